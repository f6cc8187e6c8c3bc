using System.Net;
using System.Text;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Daemon;

[Collection(SharedDaemonCollection.Name)]
public sealed class TrustApiTests(SharedDaemon fixture)
{
    private ApiClient Api => fixture.Daemon.Api;

    [Fact]
    public async Task Untrusted_tls_callers_see_only_the_untrusted_server_object()
    {
        using var clientCert = TestCertificates.CreateClient("stranger");
        using var client = ApiClient.Https(fixture.HttpsPort, clientCert, fixture.Daemon.NetnsName);
        var r = await client.GetAsync("/1.0");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("untrusted", r.Metadata.GetProperty("auth").GetString());
        Assert.Contains("tls", r.Metadata.GetProperty("auth_methods").EnumerateArray().Select(e => e.GetString()));
        Assert.False(r.Metadata.TryGetProperty("environment", out _));

        foreach (var path in new[] { "/1.0/profiles", "/1.0/certificates", "/1.0/operations" })
        {
            r = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, r.Status);
            Assert.Equal("error", r.Type);
        }
        using var anonymous = ApiClient.Https(fixture.HttpsPort, netns: fixture.Daemon.NetnsName);
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/1.0/profiles")).Status);
    }

    [Fact]
    public async Task A_wrong_trust_password_is_refused_and_trusts_nothing()
    {
        using var cert = TestCertificates.CreateClient("guesser");
        using var client = ApiClient.Https(fixture.HttpsPort, cert, fixture.Daemon.NetnsName);
        var r = await client.PostAsync("/1.0/certificates", """{"type":"client","password":"wrong"}""");
        Assert.Equal(HttpStatusCode.Forbidden, r.Status);
        Assert.Contains("password", r.Error);
        Assert.Equal("untrusted", (await client.GetAsync("/1.0")).Metadata.GetProperty("auth").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/certificates/" + TestCertificates.Fingerprint(cert))).Status);
    }

    [Fact]
    public async Task The_trust_password_trusts_the_connection_certificate()
    {
        using var cert = TestCertificates.CreateClient("pw-client");
        using var client = ApiClient.Https(fixture.HttpsPort, cert, fixture.Daemon.NetnsName);
        var r = await client.PostAsync("/1.0/certificates", """{"type":"client","password":"s3cret","certificate":"","name":"","token":false}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("trusted", (await client.GetAsync("/1.0")).Metadata.GetProperty("auth").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/1.0/profiles")).Status);

        // The stored config holds a salted hash, never the password itself.
        var stored = await fixture.Daemon.QueryScalarAsync("SELECT value FROM config WHERE key = 'core.trust_password'");
        Assert.StartsWith("pbkdf2-sha512$", stored);
        Assert.DoesNotContain("s3cret", stored);
        var show = await Api.GetAsync("/1.0/certificates/" + TestCertificates.Fingerprint(cert)[..12]);
        Assert.Equal("pw-client", show.Metadata.GetProperty("name").GetString());

        // Deleting the certificate revokes access at once.
        Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync("/1.0/certificates/" + TestCertificates.Fingerprint(cert))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/1.0/profiles")).Status);
    }

    [Fact]
    public async Task A_token_is_an_operation_that_trusts_one_client_once()
    {
        var r = await Api.PostAsync("/1.0/certificates", """{"name":"tok-client","type":"client","token":true}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Status);
        var op = r.Metadata;
        Assert.Equal("token", op.GetProperty("class").GetString());
        var meta = op.GetProperty("metadata");
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["client_name"] = "tok-client",
            ["fingerprint"] = meta.GetProperty("fingerprint").GetString()!,
            ["addresses"] = meta.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()).ToArray(),
            ["secret"] = meta.GetProperty("secret").GetString()!,
        })));
        var listed = await Api.GetAsync("/1.0/operations?recursion=1");
        Assert.Contains(op.GetProperty("id").GetString(), listed.Metadata.GetProperty("running").EnumerateArray().Select(o => o.GetProperty("id").GetString()));

        using var cert = TestCertificates.CreateClient("tok");
        using var client = ApiClient.Https(fixture.HttpsPort, cert, fixture.Daemon.NetnsName);
        r = await client.PostAsync("/1.0/certificates", $$"""{"type":"","password":"{{token}}"}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("trusted", (await client.GetAsync("/1.0")).Metadata.GetProperty("auth").GetString());
        var stored = await Api.GetAsync("/1.0/certificates/" + TestCertificates.Fingerprint(cert));
        Assert.Equal("tok-client", stored.Metadata.GetProperty("name").GetString());

        // Used once: a second client cannot reuse it.
        using var otherCert = TestCertificates.CreateClient("tok2");
        using var other = ApiClient.Https(fixture.HttpsPort, otherCert, fixture.Daemon.NetnsName);
        r = await other.PostAsync("/1.0/certificates", $$"""{"type":"","password":"{{token}}"}""");
        Assert.Equal(HttpStatusCode.Forbidden, r.Status);
        await Api.DeleteAsync("/1.0/certificates/" + TestCertificates.Fingerprint(cert));
    }

    [Fact]
    public async Task A_cancelled_token_cannot_be_used()
    {
        var r = await Api.PostAsync("/1.0/certificates", """{"name":"revoked","token":true}""");
        var id = r.Metadata.GetProperty("id").GetString();
        var secret = r.Metadata.GetProperty("metadata").GetProperty("secret").GetString();
        Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync("/1.0/operations/" + id)).Status);
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes($$"""{"client_name":"revoked","secret":"{{secret}}"}"""));
        using var clientCert = TestCertificates.CreateClient("late");
        using var client = ApiClient.Https(fixture.HttpsPort, clientCert, fixture.Daemon.NetnsName);
        r = await client.PostAsync("/1.0/certificates", $$"""{"password":"{{token}}"}""");
        Assert.Equal(HttpStatusCode.Forbidden, r.Status);
    }

    [Fact]
    public async Task Certificates_can_be_added_listed_updated_and_removed_over_the_socket()
    {
        using var cert = TestCertificates.CreateClient("added");
        var fp = TestCertificates.Fingerprint(cert);
        var r = await Api.PostAsync("/1.0/certificates", $$"""{"name":"added","type":"client","certificate":"{{Convert.ToBase64String(cert.RawData)}}"}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        r = await Api.PostAsync("/1.0/certificates", $$"""{"name":"again","certificate":"{{Convert.ToBase64String(cert.RawData)}}"}""");
        Assert.Equal(HttpStatusCode.Conflict, r.Status);
        r = await Api.PostAsync("/1.0/certificates", """{"name":"junk","certificate":"bm90IGEgY2VydA=="}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("certificate", r.Error);
        r = await Api.PostAsync("/1.0/certificates", $$"""{"name":"x","type":"admin","certificate":"{{Convert.ToBase64String(cert.RawData)}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("admin", r.Error);

        r = await Api.GetAsync("/1.0/certificates");
        Assert.Contains("/1.0/certificates/" + fp, r.Metadata.EnumerateArray().Select(e => e.GetString()));
        r = await Api.PatchAsync("/1.0/certificates/" + fp, """{"name":"renamed"}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("renamed", (await Api.GetAsync("/1.0/certificates/" + fp)).Metadata.GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Api.DeleteAsync("/1.0/certificates/" + fp)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.DeleteAsync("/1.0/certificates/" + fp)).Status);
    }
}
