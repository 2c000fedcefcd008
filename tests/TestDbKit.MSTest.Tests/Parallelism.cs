// Every test may run beside every other (the adapter must keep concurrent tests apart); the classes whose tests
// clear every pool of the process or need the server to themselves say [DoNotParallelize].
[assembly: Parallelize(Scope = ExecutionScope.MethodLevel)]
