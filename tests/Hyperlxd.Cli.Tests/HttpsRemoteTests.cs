using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hyperlxd.Cli.Tests;

/// <summary>
/// The 5.0.2 <c>remote add</c> trust flows against an HTTPS stub that, like LXD, requests any
/// client certificate and trusts it after a correct password or token.
/// </summary>
public sealed class HttpsRemoteTests : IAsyncLifetime, IDisposable
{
    private readonly TestCli _cli = new();
    private readonly X509Certificate2 _serverCert = StubServer.SelfSignedServerCert();
    private readonly ConcurrentDictionary<string, bool> _trusted = new();
    private StubServer _stub = null!;

    private string ServerFingerprint => StubServer.Fingerprint(_serverCert);

    private string Addr => $"127.0.0.1:{_stub.HttpsAddress!.Port}";

    public async Task InitializeAsync()
    {
        _stub = await StubServer.StartHttpsAsync(_serverCert, app =>
        {
            app.MapGet("/1.0", (HttpContext ctx) => StubServer.Sync(IsTrusted(ctx)
                ? """{"api_version":"1.0","auth":"trusted","auth_methods":["tls"],"public":false}"""
                : """{"api_version":"1.0","auth":"untrusted","auth_methods":["tls"],"public":false}"""));
            app.MapPost("/1.0/certificates", (HttpContext ctx) =>
            {
                var req = JsonSerializer.Deserialize(StubServer.BodyOf(ctx), ApiJsonContext.Default.CertificatesPost)!;
                var cert = ctx.Connection.ClientCertificate;
                var tokenOk = req.Type == "" && CertificateToken.TryDecode(req.Password ?? "")?.Secret == "tok-secret";
                var passwordOk = req.Type == "client" && req.Password == "s3cret";
                if (cert is null || !(tokenOk || passwordOk))
                    return StubServer.Error(403, "not authorized");
                _trusted[StubServer.Fingerprint(cert)] = true;
                return StubServer.Sync("{}");
            });
            app.MapGet("/1.0/profiles", (HttpContext ctx) => IsTrusted(ctx)
                ? StubServer.Sync("""[{"name":"default","description":"over https","config":{},"devices":{},"used_by":[]}]""")
                : StubServer.Error(403, "Forbidden"));
        });
    }

    private bool IsTrusted(HttpContext ctx) =>
        ctx.Connection.ClientCertificate is { } c && _trusted.ContainsKey(StubServer.Fingerprint(c));

    public async Task DisposeAsync()
    {
        await _stub.DisposeAsync();
    }

    public void Dispose()
    {
        _serverCert.Dispose();
        _cli.Dispose();
    }

    private bool RemoteSaved(string name) => RemoteConfig.Load(_cli.ConfDir).Remotes.ContainsKey(name);

    [Fact]
    public async Task WithoutAcceptCertificateItShowsTheFingerprintAndRefuses()
    {
        var result = await _cli.RunAsync("remote", "add", "r", "https://" + Addr, "--password", "s3cret");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"Certificate fingerprint: {ServerFingerprint}\n", result.Out);
        Assert.Contains("--accept-certificate", result.Err);
        Assert.False(RemoteSaved("r"));
        Assert.DoesNotContain(_stub.Requests, r => r.Method == "POST");
    }

    [Fact]
    public async Task PasswordFlowPinsTheCertAndTrustsTheClientCert()
    {
        var result = await _cli.RunAsync("remote", "add", "r", Addr, "--accept-certificate", "--password", "s3cret");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Err);

        // GET /1.0 (untrusted) → POST /1.0/certificates → GET /1.0 (trusted), all with our client cert.
        var requests = _stub.Requests;
        Assert.Equal(["GET /1.0", "POST /1.0/certificates", "GET /1.0"], requests.Select(r => $"{r.Method} {r.PathAndQuery}"));
        using var clientCert = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_cli.ConfDir, "client.crt")));
        Assert.All(requests, r => Assert.Equal(StubServer.Fingerprint(clientCert), r.ClientFingerprint));
        var post = JsonDocument.Parse(requests[1].Body).RootElement;
        Assert.Equal("client", post.GetProperty("type").GetString());
        Assert.Equal("s3cret", post.GetProperty("password").GetString());
        Assert.Equal("", post.GetProperty("certificate").GetString());
        Assert.False(post.GetProperty("token").GetBoolean());
        Assert.NotEqual("", post.GetProperty("name").GetString());

        // The client cert is what lxc generates: EC P-384 with the clientAuth EKU.
        Assert.Equal(384, clientCert.GetECDsaPublicKey()!.KeySize);
        var eku = clientCert.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();
        Assert.Contains(eku.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.2");

        using var pinned = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_cli.ConfDir, "servercerts", "r.crt")));
        Assert.Equal(_serverCert.RawData, pinned.RawData);
        Assert.Equal($"https://{Addr}", RemoteConfig.Load(_cli.ConfDir).Remotes["r"].Addr);

        var list = await _cli.RunAsync("profile", "list", "r:");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("| default | over https  | 0       |", list.Out);
        var info = await _cli.RunAsync("info", "r:", "--format", "json");
        Assert.Equal("trusted", JsonDocument.Parse(info.Out).RootElement.GetProperty("auth").GetString());
    }

    [Fact]
    public async Task WrongPasswordFailsWithTheServerErrorAndSavesNothing()
    {
        var result = await _cli.RunAsync("remote", "add", "r", Addr, "--accept-certificate", "--password", "nope");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("Error: not authorized\n", result.Err);
        Assert.False(RemoteSaved("r"));
        Assert.False(File.Exists(Path.Combine(_cli.ConfDir, "servercerts", "r.crt")));
    }

    [Fact]
    public async Task APinnedCertificateThatNoLongerMatchesIsRefused()
    {
        Assert.Equal(0, (await _cli.RunAsync("remote", "add", "r", Addr, "--accept-certificate", "--password", "s3cret")).ExitCode);
        using var other = StubServer.SelfSignedServerCert("impostor");
        File.WriteAllText(Path.Combine(_cli.ConfDir, "servercerts", "r.crt"), other.ExportCertificatePem());
        var before = _stub.Requests.Count;

        var result = await _cli.RunAsync("info", "r:");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"Error: Failed to connect to {Addr}", result.Err);
        Assert.Equal(before, _stub.Requests.Count);
    }

    [Fact]
    public async Task TokenFlowChecksTheFingerprintAndSendsTheWholeTokenAsPassword()
    {
        var token = CertificateToken.Encode(new CertificateAddToken
        {
            ClientName = "laptop", Fingerprint = ServerFingerprint, Secret = "tok-secret",
            Addresses = ["127.0.0.1:1", Addr],
        });

        var result = await _cli.RunAsync("remote", "add", "t", token);

        Assert.Equal(0, result.ExitCode);
        var post = JsonDocument.Parse(_stub.Requests.Single(r => r.Method == "POST").Body).RootElement;
        Assert.Equal("", post.GetProperty("type").GetString());
        Assert.Equal(token, post.GetProperty("password").GetString());
        Assert.Equal($"https://{Addr}", RemoteConfig.Load(_cli.ConfDir).Remotes["t"].Addr);
    }

    [Fact]
    public async Task TokenWithAnotherFingerprintIsRejectedBeforeSendingTheSecret()
    {
        var token = CertificateToken.Encode(new CertificateAddToken
        {
            ClientName = "laptop", Fingerprint = new string('0', 64), Secret = "tok-secret", Addresses = [Addr],
        });

        var result = await _cli.RunAsync("remote", "add", "t", token);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("doesn't match the token", result.Err);
        Assert.Empty(_stub.Requests);
        Assert.False(RemoteSaved("t"));
    }
}
