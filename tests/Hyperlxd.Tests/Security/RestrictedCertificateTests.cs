using System.Net;
using System.Text;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Security;

/// <summary>
/// Issue 9 finding 2: a certificate added with <c>restricted=true, projects=[default]</c> used to be an
/// admin. Each attack from the finding, over HTTPS with the restricted certificate, is refused; what
/// LXD allows a restricted client (its project's instances) still works.
/// </summary>
[Collection(RestrictedDaemonCollection.Name)]
public sealed class RestrictedCertificateTests(RestrictedDaemon fixture)
{
    private ApiClient Admin => fixture.Daemon.Api;

    private async Task<(ApiClient Client, string Fingerprint)> RestrictedAsync(string name)
    {
#pragma warning disable CA2000 // the returned client's TLS handler presents it for the rest of the test
        var cert = TestCertificates.CreateClient(name);
#pragma warning restore CA2000
        await fixture.TrustAsync(cert, name, restricted: true, "default");
        return (ApiClient.Https(fixture.HttpsPort, cert, fixture.Daemon.NetnsName), TestCertificates.Fingerprint(cert));
    }

    private static void Refused(ApiResponse r, string? mentions = null)
    {
        Assert.True(r.Status == HttpStatusCode.Forbidden, r.ToString());
        if (mentions is not null)
        {
            Assert.Contains(mentions, r.Error);
        }
    }

    private async Task WaitOkAsync(ApiClient client, ApiResponse accepted)
    {
        Assert.True(accepted.Status == HttpStatusCode.Accepted, accepted.ToString());
        var w = await client.GetAsync(accepted.Body.GetProperty("operation").GetString() + "/wait?timeout=90");
        Assert.True(w.Metadata.GetProperty("status").GetString() == "Success", w.ToString());
    }

    [Fact]
    public async Task A_restricted_client_cannot_administer_server_certificates_or_storage()
    {
        var (client, fp) = await RestrictedAsync("restricted-admin");
        using var _ = client;
        var server = await client.GetAsync("/1.0");
        Assert.Equal("trusted", server.Metadata.GetProperty("auth").GetString());
        Assert.False(server.Metadata.GetProperty("config").TryGetProperty("core.https_address", out var _1), "server config is for admins");

        Refused(await client.PatchAsync("/1.0", """{"config":{"core.trust_password":"mine"}}"""), "server configuration");
        Refused(await client.PutAsync("/1.0", """{"config":{}}"""));
        var hash = await fixture.Daemon.QueryScalarAsync("SELECT value FROM config WHERE key = 'core.trust_password'");
        Assert.True(Hyperlxd.Daemon.Security.TrustPassword.Verify("s3cret", hash!), "the trust password is unchanged");

        // Certificate administration: adding others, tokens, lifting its own restriction, deleting.
        var other = TestCertificates.CreateClient("smuggled");
        Refused(await client.PostAsync("/1.0/certificates", $$"""{"name":"smuggled","type":"client","certificate":"{{Convert.ToBase64String(other.RawData)}}"}"""));
        Refused(await client.PostAsync("/1.0/certificates", """{"name":"tok","token":true}"""));
        Assert.Equal(HttpStatusCode.NotFound, (await Admin.GetAsync("/1.0/certificates/" + TestCertificates.Fingerprint(other))).Status);
        Refused(await client.PatchAsync("/1.0/certificates/" + fp, """{"restricted":false}"""), "restricted");
        Refused(await client.PatchAsync("/1.0/certificates/" + fp, """{"projects":[]}"""), "projects");
        Refused(await client.PatchAsync("/1.0/certificates/" + fp, """{"type":"metrics"}"""), "type");
        Refused(await client.PutAsync("/1.0/certificates/" + fp, """{"name":"restricted-admin","type":"client","restricted":false,"projects":[]}"""));
        Refused(await client.DeleteAsync("/1.0/certificates/" + fp));
        var stored = (await Admin.GetAsync("/1.0/certificates/" + fp)).Metadata;
        Assert.True(stored.GetProperty("restricted").GetBoolean());
        Assert.Equal("""["default"]""", stored.GetProperty("projects").GetRawText());

        var (victim, victimFp) = await RestrictedAsync("restricted-victim");
        victim.Dispose();
        Refused(await client.PatchAsync("/1.0/certificates/" + victimFp, """{"name":"renamed"}"""));
        Refused(await client.DeleteAsync("/1.0/certificates/" + victimFp));
        Assert.Equal(HttpStatusCode.OK, (await Admin.GetAsync("/1.0/certificates/" + victimFp)).Status);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/1.0/certificates")).Status);

        // Storage pools: reads as LXD allows, administration refused.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/1.0/storage-pools")).Status);
        Refused(await client.PostAsync("/1.0/storage-pools", """{"name":"evil","driver":"dir","config":{"source":"/"}}"""), "storage pools");
        Refused(await client.PatchAsync("/1.0/storage-pools/default", """{"config":{}}"""));
        Refused(await client.DeleteAsync("/1.0/storage-pools/default"));
        Assert.Equal(HttpStatusCode.NotFound, (await Admin.GetAsync("/1.0/storage-pools/evil")).Status);

        // Other projects are out of reach.
        Refused(await client.GetAsync("/1.0/instances?project=other"));
    }

    [Fact]
    public async Task A_restricted_client_cannot_launch_privileged_or_host_mounting_containers()
    {
        var (client, _) = await RestrictedAsync("restricted-launch");
        using var _c = client;
        string Create(string name, string config, string devices = "{}", string profiles = """["default"]""") =>
            $$"""{"name":"{{name}}","source":{"type":"image","alias":"busybox"},"config":{{config}},"devices":{{devices}},"profiles":{{profiles}}}""";

        Refused(await client.PostAsync("/1.0/instances", Create("r-priv", """{"security.privileged":"true"}""")), "security.privileged");
        Refused(await client.PostAsync("/1.0/instances", Create("r-host", "{}", """{"host":{"type":"disk","source":"/","path":"/mnt/host"}}""")), "\"host\"");
        Refused(await client.PostAsync("/1.0/instances", Create("r-raw", """{"raw.lxc":"lxc.apparmor.profile=unconfined"}""")), "raw.lxc");
        Refused(await client.PostAsync("/1.0/instances", Create("r-nest", """{"security.nesting":"true"}""")), "security.nesting");
        Refused(await client.PostAsync("/1.0/instances", Create("r-idmap", """{"security.idmap.base":"0"}""")), "security.idmap.base");
        Refused(await client.PostAsync("/1.0/instances", Create("r-dev", "{}", """{"kmsg":{"type":"unix-char","source":"/dev/kmsg"}}""")), "\"kmsg\"");
        Refused(await client.PostAsync("/1.0/profiles", """{"name":"r-privp","config":{"security.privileged":"true"}}"""), "security.privileged");

        // Through an admin's profile: the expanded config counts.
        Assert.Equal(HttpStatusCode.OK, (await Admin.PostAsync("/1.0/profiles", """{"name":"admin-priv","config":{"security.privileged":"true"}}""")).Status);
        Refused(await client.PostAsync("/1.0/instances", Create("r-viap", "{}", profiles: """["default","admin-priv"]""")), "security.privileged");
        foreach (var name in new[] { "r-priv", "r-host", "r-raw", "r-nest", "r-idmap", "r-dev", "r-viap" })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await Admin.GetAsync("/1.0/instances/" + name)).Status);
        }

        // What stays allowed: an unprivileged container in its project, started, listed, changed, deleted.
        await WaitOkAsync(client, await client.PostAsync("/1.0/instances", Create("r-ok", """{"user.note":"fine"}""")));
        try
        {
            await WaitOkAsync(client, await client.PutAsync("/1.0/instances/r-ok/state", """{"action":"start","timeout":30}"""));
            var list = await client.GetAsync("/1.0/instances");
            Assert.Contains("/1.0/instances/r-ok", list.Metadata.EnumerateArray().Select(e => e.GetString()));
            Assert.Equal("Running", (await client.GetAsync("/1.0/instances/r-ok/state")).Metadata.GetProperty("status").GetString());
            Refused(await client.PatchAsync("/1.0/instances/r-ok", """{"config":{"security.privileged":"true"}}"""), "security.privileged");
            var patched = await client.PatchAsync("/1.0/instances/r-ok", """{"config":{"user.other":"x"}}""");
            if (patched.Status != HttpStatusCode.OK)
            {
                await WaitOkAsync(client, patched);
            }
            Assert.False((await Admin.GetAsync("/1.0/instances/r-ok")).Metadata.GetProperty("config").TryGetProperty("security.privileged", out _));
            await WaitOkAsync(client, await client.PutAsync("/1.0/instances/r-ok/state", """{"action":"stop","timeout":30,"force":true}"""));
        }
        finally
        {
            await fixture.Daemon.LxcAsync("delete", "--force", "r-ok");
            await Admin.DeleteAsync("/1.0/profiles/admin-priv");
        }
    }

    [Fact]
    public async Task A_token_carries_its_restriction_to_the_certificate_it_trusts_and_stays_hidden()
    {
        var r = await Admin.PostAsync("/1.0/certificates", """{"name":"tok-restricted","type":"client","token":true,"restricted":true,"projects":["default"]}""");
        Assert.Equal(HttpStatusCode.Accepted, r.Status);
        var opId = r.Metadata.GetProperty("id").GetString()!;
        var meta = r.Metadata.GetProperty("metadata");
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["client_name"] = "tok-restricted",
            ["fingerprint"] = meta.GetProperty("fingerprint").GetString()!,
            ["addresses"] = meta.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()).ToArray(),
            ["secret"] = meta.GetProperty("secret").GetString()!,
        })));

        // A restricted client cannot read a pending token (it would trust a certificate of its choosing).
        var (spy, _) = await RestrictedAsync("restricted-spy");
        using (spy)
        {
            var ops = await spy.GetAsync("/1.0/operations?recursion=1");
            Assert.True(ops.Status == HttpStatusCode.OK, ops.ToString());
            Assert.DoesNotContain(opId, ops.Body.GetRawText());
            Assert.Equal(HttpStatusCode.NotFound, (await spy.GetAsync("/1.0/operations/" + opId)).Status);
        }

        // The redeemer asks for an unrestricted certificate: the token decides.
        using var cert = TestCertificates.CreateClient("tok-redeemer");
        using var client = ApiClient.Https(fixture.HttpsPort, cert, fixture.Daemon.NetnsName);
        r = await client.PostAsync("/1.0/certificates", $$"""{"type":"client","password":"{{token}}","restricted":false,"projects":[],"name":"i-am-admin"}""");
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        var stored = (await Admin.GetAsync("/1.0/certificates/" + TestCertificates.Fingerprint(cert))).Metadata;
        Assert.True(stored.GetProperty("restricted").GetBoolean());
        Assert.Equal("""["default"]""", stored.GetProperty("projects").GetRawText());
        Assert.Equal("tok-restricted", stored.GetProperty("name").GetString());
        Refused(await client.PatchAsync("/1.0", """{"config":{"core.trust_password":"x"}}"""));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/1.0/instances")).Status);
    }

    [Fact]
    public async Task Stock_lxc_with_a_restricted_token_cannot_set_server_config()
    {
        var env = fixture.Daemon.Env;
        var issued = await fixture.Daemon.RunInNetnsAsync("lxc", new[] { "config", "trust", "add", "--name", "lxc-restricted", "--restricted", "--projects", "default" }, env);
        Assert.True(issued.ExitCode == 0, issued.ToString());
        var token = issued.Stdout.Trim().Split('\n')[^1].Trim();

        var conf = Repo.TempDir("hlx-restricted-");
        var mine = new Dictionary<string, string>(env) { ["LXD_CONF"] = conf, ["HOME"] = conf };
        var add = await fixture.Daemon.RunInNetnsAsync("lxc", new[] { "remote", "add", "rem", token }, mine);
        Assert.True(add.ExitCode == 0, add.ToString());
        var redeemed = (await Admin.GetAsync("/1.0/certificates/" + FingerprintOf(conf))).Metadata;
        Assert.True(redeemed.GetProperty("restricted").GetBoolean(), redeemed.ToString());
        Assert.Equal("""["default"]""", redeemed.GetProperty("projects").GetRawText());

        var set = await fixture.Daemon.RunInNetnsAsync("lxc", new[] { "config", "set", "rem:", "core.trust_password", "x" }, mine);
        Assert.NotEqual(0, set.ExitCode);
        Assert.Contains("restricted", set.Stderr);
        var list = await fixture.Daemon.RunInNetnsAsync("lxc", new[] { "list", "rem:", "--format", "csv" }, mine);
        Assert.True(list.ExitCode == 0, list.ToString());

        // `lxc config trust add cert.crt --restricted --projects default` stores the restriction too.
        using var cert = TestCertificates.CreateClient("file-restricted");
        var file = Path.Combine(conf, "other.crt");
        await File.WriteAllTextAsync(file, cert.ExportCertificatePem());
        var byFile = await fixture.Daemon.RunInNetnsAsync("lxc", new[] { "config", "trust", "add", file, "--restricted", "--projects", "default" }, env);
        Assert.True(byFile.ExitCode == 0, byFile.ToString());
        var stored = (await Admin.GetAsync("/1.0/certificates/" + TestCertificates.Fingerprint(cert))).Metadata;
        Assert.True(stored.GetProperty("restricted").GetBoolean());
        Assert.Equal("""["default"]""", stored.GetProperty("projects").GetRawText());
    }

    /// <summary>The fingerprint of the client certificate lxc generated in <paramref name="conf"/>.</summary>
    private static string FingerprintOf(string conf)
    {
        using var cert = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(conf, "client.crt")));
        return TestCertificates.Fingerprint(cert);
    }
}
