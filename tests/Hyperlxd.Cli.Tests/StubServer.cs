using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Cli.Tests;

/// <summary>One request as the stub saw it.</summary>
public sealed record Recorded(string Method, string PathAndQuery, string Body, string? IfMatch, string? ClientFingerprint);

/// <summary>
/// A Kestrel stand-in for the daemon that serves only the endpoints a test maps, and records
/// every request so the test can assert exactly what hlx sent.
/// </summary>
public sealed class StubServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<Recorded> _requests = new();

    private StubServer(WebApplication app) => _app = app;

    public IReadOnlyList<Recorded> Requests
    {
        get
        {
            lock (_requests)
                return _requests.ToList();
        }
    }

    public Uri? HttpsAddress { get; private set; }

    public static Task<StubServer> StartUnixAsync(string socketPath, Action<WebApplication> map) =>
        StartAsync(k => k.ListenUnixSocket(socketPath), map);

    public static async Task<StubServer> StartHttpsAsync(X509Certificate2 serverCert, Action<WebApplication> map)
    {
        var stub = await StartAsync(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(serverCert, https =>
        {
            // Like LXD: ask for a client certificate, accept any self-signed one, decide trust per request.
            https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            https.AllowAnyClientCertificate();
        })), map);
        var url = stub._app.Urls.Single();
        stub.HttpsAddress = new Uri(url);
        return stub;
    }

    private static async Task<StubServer> StartAsync(Action<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions> listen, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(listen);
        var app = builder.Build();
        var stub = new StubServer(app);
        app.Use(async (ctx, next) =>
        {
            using var reader = new StreamReader(ctx.Request.Body);
            var body = await reader.ReadToEndAsync();
            var cert = ctx.Connection.ClientCertificate;
            lock (stub._requests)
            {
                stub._requests.Add(new Recorded(ctx.Request.Method, ctx.Request.Path + ctx.Request.QueryString, body,
                    ctx.Request.Headers.IfMatch.FirstOrDefault(), cert is null ? null : Fingerprint(cert)));
            }

            ctx.Items["body"] = body;
            await next();
        });
        map(app);
        await app.StartAsync();
        return stub;
    }

    public static string BodyOf(HttpContext ctx) => (string)ctx.Items["body"]!;

    public static string Fingerprint(X509Certificate2 cert) => Convert.ToHexStringLower(SHA256.HashData(cert.RawData));

    public static IResult Sync(string metadataJson, string? etag = null, HttpContext? ctx = null)
    {
        if (etag is not null)
            ctx!.Response.Headers.ETag = etag;
        return Results.Text(
            $$"""{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,"error":"","metadata":{{metadataJson}}}""",
            "application/json");
    }

    public static IResult Error(int code, string message) => Results.Text(
        $$"""{"type":"error","status":"","status_code":0,"operation":"","error_code":{{code}},"error":"{{message}}","metadata":null}""",
        "application/json", statusCode: code);

    public static IResult Async(string opJson, string id) => Results.Text(
        $$"""{"type":"async","status":"Operation created","status_code":100,"operation":"/1.0/operations/{{id}}","error_code":0,"error":"","metadata":{{opJson}}}""",
        "application/json", statusCode: 202);

    public static string Op(string id, int statusCode, string status, string err = "", string description = "Creating profile",
        string created = "2024-01-02T03:04:05Z", bool mayCancel = false) =>
        $$"""{"id":"{{id}}","class":"task","description":"{{description}}","created_at":"{{created}}","updated_at":"{{created}}","status":"{{status}}","status_code":{{statusCode}},"resources":{},"metadata":null,"may_cancel":{{(mayCancel ? "true" : "false")}},"err":"{{err}}","location":"none"}""";

    public static X509Certificate2 SelfSignedServerCert(string cn = "hyperlxd-stub")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + cn, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // Round-trip through PKCS#12 so Kestrel/OpenSSL get a certificate with a usable private key.
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
