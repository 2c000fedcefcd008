// Several classes here prove that a session stayed pooled (same backend pid or CONNECTION_ID over leases) or was
// killed in a pool, and others clear every driver pool ([ResetConnection], server restarts). Run in parallel, a
// neighbour's clear would make those premises fail for reasons of the neighbour's: one class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
