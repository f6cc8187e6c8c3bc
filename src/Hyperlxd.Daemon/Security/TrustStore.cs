using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.State;

namespace Hyperlxd.Daemon.Security;

/// <summary>
/// The trust store: the certificates clients authenticate with (<c>/1.0/certificates</c>), kept in
/// the database and cached by fingerprint for the TLS check of each request.
/// </summary>
public sealed class TrustStore(StateStore store)
{
    private readonly ConcurrentDictionary<string, Certificate> _trusted = new();

    /// <summary>Fills the cache at start-up.</summary>
    public async Task LoadAsync(CancellationToken ct)
    {
        foreach (var cert in await store.Certificates.ListAsync(ct))
        {
            Trust(cert);
        }
    }

    public Task<List<Certificate>> ListAsync(CancellationToken ct) => store.Certificates.ListAsync(ct);

    public Task<Certificate> GetAsync(string fingerprint, CancellationToken ct) => store.Certificates.GetAsync(fingerprint, ct);

    public async Task AddAsync(Certificate cert, CancellationToken ct)
    {
        await store.Certificates.AddAsync(cert, ct);
        Trust(cert);
    }

    /// <summary>Changes an entry (<paramref name="mutate"/> runs on the stored one, and may throw to refuse).</summary>
    public async Task<Certificate> UpdateAsync(string fingerprint, Action<Certificate> mutate, CancellationToken ct)
    {
        var cert = await store.Certificates.UpdateAsync(fingerprint, mutate, ct);
        Trust(cert);
        return cert;
    }

    public async Task<Certificate> DeleteAsync(string fingerprint, CancellationToken ct)
    {
        var cert = await store.Certificates.DeleteAsync(fingerprint, ct);
        _trusted.TryRemove(cert.Fingerprint, out _);
        return cert;
    }

    /// <summary>
    /// The trust-store entry of a TLS client certificate, or null when it is not in the store. The caller
    /// decides what its type allows: a "metrics" certificate reaches <c>GET /1.0/metrics</c> only.
    /// </summary>
    public async Task<Certificate?> TrustedCertificateAsync(X509Certificate2 cert, CancellationToken ct)
    {
        var fp = Fingerprints.Of(cert);
        if (_trusted.TryGetValue(fp, out var known))
        {
            return known;
        }
        // Another daemon sharing an external database may have added it.
        try
        {
            var stored = await store.Certificates.GetAsync(fp, ct);
            Trust(stored);
            return _trusted.GetValueOrDefault(fp);
        }
        catch (NotFoundException)
        {
            return null;
        }
    }

    /// <summary>Caches a certificate's entry (type and restrictions) by fingerprint.</summary>
    private void Trust(Certificate cert) => _trusted[cert.Fingerprint] = cert;
}
