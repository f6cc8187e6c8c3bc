using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hyperlxd.Cli.Client;

/// <summary>Client certificate generation, fingerprints and fetching a server's certificate for pinning.</summary>
public static class Certificates
{
    /// <summary>LXD's fingerprint: sha256 of the DER bytes, lowercase hex.</summary>
    public static string Fingerprint(X509Certificate2 cert) => Convert.ToHexStringLower(SHA256.HashData(cert.RawData));

    /// <summary>
    /// Loads client.crt/client.key, generating them on first use like lxc does: a self-signed
    /// EC P-384 certificate with the clientAuth EKU, the key readable by the owner only.
    /// </summary>
    public static X509Certificate2 LoadOrCreateClientCertificate(string certPath, string keyPath)
    {
        if (!File.Exists(certPath) || !File.Exists(keyPath))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(certPath)!);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
            var user = Environment.UserName;
            var host = Environment.MachineName;
            var request = new CertificateRequest($"O=Hyperlxd, CN={user}@{host}", key, HashAlgorithmName.SHA384);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                new OidCollection { new Oid("1.3.6.1.5.5.7.3.2") }, false));
            var now = DateTimeOffset.UtcNow;
            using var cert = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));

            WritePrivate(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
            File.WriteAllText(certPath, cert.ExportCertificatePem() + "\n");
        }

        try
        {
            return X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        catch (CryptographicException e)
        {
            throw new CliException($"Failed to load the client certificate {certPath}: {e.Message}", e);
        }
    }

    public static X509Certificate2 LoadPem(string path)
    {
        try
        {
            return X509Certificate2.CreateFromPem(File.ReadAllText(path));
        }
        catch (Exception e) when (e is CryptographicException or IOException)
        {
            throw new CliException($"Failed to load the server certificate {path}: {e.Message}", e);
        }
    }

    public static void SavePem(string path, X509Certificate2 cert)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, cert.ExportCertificatePem() + "\n");
    }

    /// <summary>
    /// Does a TLS handshake only to read the server certificate, accepting whatever is presented:
    /// the caller shows its fingerprint and decides whether to pin it.
    /// </summary>
    public static async Task<X509Certificate2> FetchServerCertificateAsync(Uri address, CancellationToken ct)
    {
        X509Certificate2? captured = null;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(address.Host, address.Port, timeout.Token);
            await using var ssl = new SslStream(tcp.GetStream());
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = address.Host,
                // Deliberately accept anything: this handshake only reads the certificate so the
                // user can check its fingerprint; nothing is sent over this connection.
#pragma warning disable CA5359
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    if (cert is not null)
                        captured = X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
                    return true;
                },
#pragma warning restore CA5359
            }, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or IOException or AuthenticationException or OperationCanceledException)
        {
            throw new CliException($"Failed to connect to {address.Authority}: {e.Message}", e);
        }

#pragma warning disable CA1508 // false positive: the validation callback above assigns it
        return captured ?? throw new CliException($"The server at {address.Authority} presented no certificate");
#pragma warning restore CA1508
    }

    private static void WritePrivate(string path, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }
}
