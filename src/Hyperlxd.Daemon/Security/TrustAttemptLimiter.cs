using System.Net;

namespace Hyperlxd.Daemon.Security;

/// <summary>
/// Gates trust-password and token attempts before any PBKDF2 work: a token bucket per source address
/// (a failed attempt spends one, a successful one gets it back) and a small global bound on attempts
/// being evaluated at once. Excess attempts are refused at once, never queued, so parallel requests
/// buy an attacker nothing.
/// </summary>
public sealed class TrustAttemptLimiter(int burst = 5, TimeSpan? refill = null, int concurrent = 2, TimeProvider? clock = null) : IDisposable
{
    private readonly TimeSpan _refill = refill ?? TimeSpan.FromSeconds(2);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly SemaphoreSlim _inFlight = new(concurrent, concurrent);
    private readonly Dictionary<IPAddress, Bucket> _buckets = new();
    private readonly object _lock = new();

    public void Dispose() => _inFlight.Dispose();

    private sealed class Bucket(double tokens, DateTimeOffset at)
    {
        public double Tokens = tokens;
        public DateTimeOffset At = at;
    }

    public enum Refusal
    {
        None,
        RateLimited,
        Busy,
    }

    /// <summary>An admitted attempt: dispose it when evaluated; call <see cref="Succeeded"/> to refund its token.</summary>
    public sealed class Attempt(TrustAttemptLimiter owner, IPAddress address) : IDisposable
    {
        private bool _released;

        public void Succeeded() => owner.Refund(address);

        public void Dispose()
        {
            if (!_released)
            {
                _released = true;
                owner._inFlight.Release();
            }
        }
    }

    /// <summary>Admits an attempt from <paramref name="address"/>, or says why not (without waiting).</summary>
    public Refusal TryBegin(IPAddress address, out Attempt? attempt)
    {
        attempt = null;
        lock (_lock)
        {
            var bucket = Refreshed(address);
            if (bucket.Tokens < 1)
            {
                return Refusal.RateLimited;
            }
            if (!_inFlight.Wait(0))
            {
                return Refusal.Busy;
            }
            bucket.Tokens -= 1;
        }
        attempt = new Attempt(this, address);
        return Refusal.None;
    }

    private void Refund(IPAddress address)
    {
        lock (_lock)
        {
            var bucket = Refreshed(address);
            bucket.Tokens = Math.Min(burst, bucket.Tokens + 1);
        }
    }

    private Bucket Refreshed(IPAddress address)
    {
        var now = _clock.GetUtcNow();
        if (!_buckets.TryGetValue(address, out var bucket))
        {
            if (_buckets.Count >= 10_000)
            {
                Prune(now);
            }
            bucket = _buckets[address] = new Bucket(burst, now);
        }
        bucket.Tokens = Math.Min(burst, bucket.Tokens + (now - bucket.At) / _refill);
        bucket.At = now;
        return bucket;
    }

    /// <summary>Forgets addresses whose bucket is full again: they are indistinguishable from new ones.</summary>
    private void Prune(DateTimeOffset now)
    {
        foreach (var (address, bucket) in _buckets.ToList())
        {
            if (bucket.Tokens + (now - bucket.At) / _refill >= burst)
            {
                _buckets.Remove(address);
            }
        }
    }
}
