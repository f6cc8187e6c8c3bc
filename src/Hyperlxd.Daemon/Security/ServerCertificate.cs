using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hyperlxd.Daemon.Security;

/// <summary>
/// The server's TLS identity: an EC P-384 self-signed certificate created on first start and kept
/// in the state directory (server.crt/server.key), as LXD does. Clients pin its sha256.
/// </summary>
public sealed class ServerCertificate
{
    private ServerCertificate(X509Certificate2 cert)
    {
        Certificate = cert;
        Fingerprint = Fingerprints.Of(cert);
        Pem = cert.ExportCertificatePem() + "\n";
    }

    public X509Certificate2 Certificate { get; }
    public string Fingerprint { get; }
    public string Pem { get; }

    public static ServerCertificate LoadOrCreate(string dir)
    {
        var crt = Path.Combine(dir, "server.crt");
        var key = Path.Combine(dir, "server.key");
        if (!File.Exists(crt) || !File.Exists(key))
        {
            Generate(crt, key);
        }
        using var pem = X509Certificate2.CreateFromPemFile(crt, key);
        // Round-trip through PKCS#12 so that SslStream gets a certificate with a usable private key.
        return new ServerCertificate(X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null));
    }

    private static void Generate(string crtPath, string keyPath)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var host = Dns.GetHostName();
        var req = new CertificateRequest($"CN=root@{host}, O=Hyperlxd", ecdsa, HashAlgorithmName.SHA384);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        File.WriteAllText(keyPath, ecdsa.ExportPkcs8PrivateKeyPem() + "\n");
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(crtPath, cert.ExportCertificatePem() + "\n");
    }
}

public static class Fingerprints
{
    /// <summary>LXD's certificate fingerprint: lowercase hex sha256 of the DER encoding.</summary>
    public static string Of(X509Certificate2 cert) => Convert.ToHexStringLower(SHA256.HashData(cert.RawData));
}
