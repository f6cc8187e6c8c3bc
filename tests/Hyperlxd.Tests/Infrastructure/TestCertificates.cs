using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hyperlxd.Tests.Infrastructure;

public static class TestCertificates
{
    /// <summary>A self-signed TLS client certificate like the one lxc generates.</summary>
    public static X509Certificate2 CreateClient(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA384);
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.2") }, false));
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    public static string Fingerprint(X509Certificate2 cert) => Convert.ToHexStringLower(SHA256.HashData(cert.RawData));
}
