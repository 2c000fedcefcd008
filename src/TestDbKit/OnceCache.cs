using System.Collections.Concurrent;

namespace TestDbKit;

/// <summary>
/// Values made once per key for the whole run (servers, database pools), safely however many tests ask at
/// once. A make that fails is reported to every caller waiting for it but not kept, so the next caller tries
/// again and a fix (a started Docker engine, a corrected schema) is picked up. A caller's token stops only
/// its own wait: the make goes on for the others.
/// </summary>
internal sealed class OnceCache<TKey, TValue>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Lazy<Task<TValue>>> _values = new();

    public async Task<TValue> GetAsync(TKey key, Func<TKey, Task<TValue>> make, CancellationToken ct)
    {
        var lazy = _values.GetOrAdd(key, k => new Lazy<Task<TValue>>(() => make(k)));
        try
        {
            return await lazy.Value.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception) when (lazy.Value.IsFaulted && !ct.IsCancellationRequested)
        {
            _values.TryRemove(new KeyValuePair<TKey, Lazy<Task<TValue>>>(key, lazy));
            throw;
        }
    }
}
