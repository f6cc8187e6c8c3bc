using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>The stock lxc 5.0.2 client (Debian lxd-client) against a real daemon.</summary>
[Collection(SharedDaemonCollection.Name)]
public sealed class LxcClientTests(SharedDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => D.LxcOkAsync(args);

    [Fact]
    public async Task Lxc_info_shows_a_trusted_server()
    {
        var info = await LxcOkAsync("info");
        Assert.Contains("auth: trusted", info);
        Assert.Contains("api_version: \"1.0\"", info);
        Assert.Contains($"server_pid: {D.Pid}", info);
    }

    [Fact]
    public async Task Lxc_profile_create_set_show_list_rename_delete()
    {
        Assert.Contains("Profile lxc-p created", await LxcOkAsync("profile", "create", "lxc-p"));
        await LxcOkAsync("profile", "set", "lxc-p", "limits.memory=128MiB", "limits.cpu=1");
        var show = await LxcOkAsync("profile", "show", "lxc-p");
        Assert.Contains("limits.memory: 128MiB", show);
        Assert.Contains("limits.cpu: \"1\"", show);
        Assert.Contains("lxc-p", await LxcOkAsync("profile", "list"));
        Assert.Contains("renamed to lxc-q", await LxcOkAsync("profile", "rename", "lxc-p", "lxc-q"));
        var list = await LxcOkAsync("profile", "list");
        Assert.Contains("lxc-q", list);
        Assert.DoesNotContain("lxc-p ", list);

        var bad = await D.LxcAsync("profile", "set", "lxc-q", "limits.memory=plenty");
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("limits.memory", bad.Stderr);

        Assert.Contains("deleted", await LxcOkAsync("profile", "delete", "lxc-q"));
        Assert.DoesNotContain("lxc-q", await LxcOkAsync("profile", "list"));
    }

    [Fact]
    public async Task Lxc_operation_list_shows_a_pending_token()
    {
        var token = await LxcOkAsync("config", "trust", "add", "--name", "oplist");
        var list = await LxcOkAsync("operation", "list");
        Assert.Contains("TOKEN", list.ToUpperInvariant());
        Assert.Contains("RUNNING", list.ToUpperInvariant());
        Assert.NotEmpty(token.Trim());
    }

    [Fact]
    public async Task Lxc_remote_add_with_a_trust_password_then_info_on_the_remote()
    {
        var conf = Repo.TempDir("hlx-remote-pw-");
        var env = new Dictionary<string, string>(D.Env) { ["LXD_CONF"] = conf, ["HOME"] = conf };
        var wrong = await D.RunInNetnsAsync("lxc", new[] { "remote", "add", "r", $"https://127.0.0.1:{fixture.HttpsPort}", "--accept-certificate", "--password", "nope" }, env);
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("password", wrong.Stderr);

        var add = await D.RunInNetnsAsync("lxc", new[] { "remote", "add", "r", $"https://127.0.0.1:{fixture.HttpsPort}", "--accept-certificate", "--password", "s3cret" }, env);
        Assert.True(add.ExitCode == 0, add.ToString());
        var info = await D.RunInNetnsAsync("lxc", new[] { "info", "r:" }, env);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("auth: trusted", info.Stdout);
        var profiles = await D.RunInNetnsAsync("lxc", new[] { "profile", "list", "r:" }, env);
        Assert.Contains("default", profiles.Stdout);
    }

    [Fact]
    public async Task Lxc_remote_add_with_a_token_then_info_on_the_remote()
    {
        var issued = await LxcOkAsync("config", "trust", "add", "--name", "token-remote");
        var token = issued.Trim().Split('\n')[^1].Trim();
        var conf = Repo.TempDir("hlx-remote-tok-");
        var env = new Dictionary<string, string>(D.Env) { ["LXD_CONF"] = conf, ["HOME"] = conf };
        var add = await D.RunInNetnsAsync("lxc", new[] { "remote", "add", "t", token }, env);
        Assert.True(add.ExitCode == 0, add.ToString());
        var info = await D.RunInNetnsAsync("lxc", new[] { "info", "t:" }, env);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("auth: trusted", info.Stdout);
        Assert.Contains("token-remote", await LxcOkAsync("config", "trust", "list"));
    }
}
