using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Security;

/// <summary>
/// Issue 9 finding 6: parallel wrong trust passwords used to be hashed one after another behind a
/// 1 s gate anyone could queue into (~13 guesses/s with 300 in flight). Attempts are now admitted per
/// source address before any hashing, a few at a time, and the rest refused at once and logged.
/// </summary>
public sealed class TrustRateLimitTests : IAsyncLifetime
{
    private DaemonProcess _daemon = null!;
    private readonly int _port = Repo.FreeTcpPort();

    public async Task InitializeAsync()
    {
        _daemon = await DaemonProcess.StartAsync();
        var r = await _daemon.Api.PatchAsync("/1.0", $$$"""{"config":{"core.https_address":"127.0.0.1:{{{_port}}}","core.trust_password":"s3cret"}}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
    }

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private static int Count(string log, string needle) =>
        log.Split('\n').Count(l => l.Contains(needle, StringComparison.Ordinal));

    [Fact]
    public async Task Parallel_wrong_passwords_are_refused_before_hashing_and_the_right_one_works_afterwards()
    {
        var cert = TestCertificates.CreateClient("guesser");
        using var client = ApiClient.Https(_port, cert, _daemon.NetnsName);
        // HTTP/2 over one TLS connection: 300 requests in flight without 300 handshakes, whose cost on a
        // loaded machine would only measure the TLS stack.
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false }.ConnectingIn(_daemon.NetnsName);
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        handler.SslOptions.ClientCertificates = new() { cert };
        using var h2 = new HttpClient(handler)
        {
            BaseAddress = new Uri($"https://127.0.0.1:{_port}"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromMinutes(5),
        };
        var started = DateTime.UtcNow;
        var replies = await Task.WhenAll(Enumerable.Range(0, 300).Select(async i =>
        {
            using var resp = await h2.PostAsync("/1.0/certificates",
                new StringContent($$"""{"type":"client","password":"guess-{{i}}"}""", System.Text.Encoding.UTF8, "application/json"));
            var body = System.Text.Json.JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement.Clone();
            return new ApiResponse(resp.StatusCode, body, resp.Headers);
        }));
        var elapsed = DateTime.UtcNow - started;

        var evaluated = replies.Count(r => r.Status == HttpStatusCode.Forbidden);
        var refused = replies.Count(r => r.Status == HttpStatusCode.TooManyRequests);
        Assert.Equal(300, evaluated + refused);
        // A burst of 5, then one attempt per 2 s regained: whatever the machine's speed, at most this many were hashed.
        Assert.InRange(evaluated, 1, 5 + (int)Math.Ceiling(elapsed.TotalSeconds / 2) + 1);
        Assert.All(replies.Where(r => r.Status == HttpStatusCode.TooManyRequests), r => Assert.Contains("trust attempts", r.Error));
        Assert.Equal("untrusted", (await client.GetAsync("/1.0")).Metadata.GetProperty("auth").GetString());

        // Each refusal is logged with the address: evaluated ones as wrong passwords, the rest as refused.
        var log = _daemon.Log;
        Assert.Equal(evaluated, Count(log, "Refused trust attempt from 127.0.0.1: wrong trust password"));
        Assert.Equal(refused, Count(log, "Refused trust attempt from 127.0.0.1: too many"));

        // Once the address has regained an attempt, the right password trusts the client.
        ApiResponse ok;
        var tries = 0;
        do
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            ok = await client.PostAsync("/1.0/certificates", """{"type":"client","password":"s3cret"}""");
        }
        while (ok.Status == HttpStatusCode.TooManyRequests && ++tries < 120);
        Assert.True(ok.Status == HttpStatusCode.OK, ok.ToString());
        Assert.Equal("trusted", (await client.GetAsync("/1.0")).Metadata.GetProperty("auth").GetString());
    }
}
