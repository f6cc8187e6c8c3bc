using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>Our own client, hlx, against a real daemon: locally and as an HTTPS remote.</summary>
[Collection(SharedDaemonCollection.Name)]
public sealed class HlxClientTests(SharedDaemon fixture)
{
    private static string Hlx => Path.Combine(Path.GetDirectoryName(Repo.DaemonBinary)!, "hlx");

    private Task<ProcessResult> RunAsync(string conf, params string[] args) =>
        fixture.Daemon.RunInNetnsAsync(Hlx, args, new Dictionary<string, string>(fixture.Daemon.Env) { ["HLX_CONF"] = conf });

    [Fact]
    public async Task Hlx_manages_profiles_on_the_local_daemon()
    {
        var conf = Repo.TempDir("hlx-conf-");
        var r = await RunAsync(conf, "profile", "create", "hlx-p", "--description", "made by hlx");
        Assert.True(r.ExitCode == 0, r.ToString());
        r = await RunAsync(conf, "profile", "set", "hlx-p", "limits.cpu=2");
        Assert.True(r.ExitCode == 0, r.ToString());
        r = await RunAsync(conf, "profile", "show", "hlx-p");
        Assert.Contains("limits.cpu: \"2\"", r.Stdout);
        Assert.Contains("made by hlx", r.Stdout);
        r = await RunAsync(conf, "profile", "list", "--format", "json");
        Assert.Contains("\"name\":\"hlx-p\"", r.Stdout);
        r = await RunAsync(conf, "profile", "set", "hlx-p", "limits.cpu=zero");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("limits.cpu", r.Stderr);
        r = await RunAsync(conf, "profile", "rename", "hlx-p", "hlx-q");
        Assert.True(r.ExitCode == 0, r.ToString());
        r = await RunAsync(conf, "profile", "delete", "hlx-q");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await fixture.Daemon.Api.GetAsync("/1.0/profiles/hlx-q")).Status);
    }

    [Fact]
    public async Task Hlx_adds_an_https_remote_with_the_trust_password()
    {
        var conf = Repo.TempDir("hlx-conf-");
        var r = await RunAsync(conf, "remote", "add", "r", $"https://127.0.0.1:{fixture.HttpsPort}", "--accept-certificate", "--password", "s3cret");
        Assert.True(r.ExitCode == 0, r.ToString());
        r = await RunAsync(conf, "info", "r:", "--format", "json");
        Assert.Contains("\"auth\":\"trusted\"", r.Stdout);
        r = await RunAsync(conf, "remote", "list");
        Assert.Contains($"https://127.0.0.1:{fixture.HttpsPort}", r.Stdout);
        r = await RunAsync(conf, "operation", "list", "r:");
        Assert.True(r.ExitCode == 0, r.ToString());
    }
}
