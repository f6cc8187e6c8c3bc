using Hyperlxd.Cli.Client;

namespace Hyperlxd.Cli.Tests;

public class RemoteConfigTests
{
    [Fact]
    public void MissingFileGivesTheLocalRemote()
    {
        using var cli = new TestCli();
        var config = RemoteConfig.Load(cli.ConfDir);
        Assert.Equal("local", config.DefaultRemote);
        Assert.Equal("unix://", Assert.Single(config.Remotes).Value.Addr);
    }

    [Fact]
    public void SaveAndLoadRoundTripWithLxcKeys()
    {
        using var cli = new TestCli();
        var config = RemoteConfig.Load(cli.ConfDir);
        config.Remotes["r"] = new RemoteEntry { Addr = "https://10.0.0.1:8443", Protocol = "lxd" };
        config.DefaultRemote = "r";
        config.Save();

        var text = File.ReadAllText(Path.Combine(cli.ConfDir, "config.yml"));
        Assert.Contains("default-remote: r", text);
        Assert.Contains("addr: https://10.0.0.1:8443", text);

        var loaded = RemoteConfig.Load(cli.ConfDir);
        Assert.Equal("r", loaded.DefaultRemote);
        Assert.Equal(["local", "r"], loaded.Remotes.Keys.Order());
        Assert.Equal("https://10.0.0.1:8443", loaded.Remotes["r"].Addr);
        Assert.Equal("lxd", loaded.Remotes["r"].Protocol);
    }

    [Fact]
    public void ReadsAnLxcStyleConfigAndIgnoresUnknownKeys()
    {
        using var cli = new TestCli();
        Directory.CreateDirectory(cli.ConfDir);
        File.WriteAllText(Path.Combine(cli.ConfDir, "config.yml"), """
            default-remote: prod
            remotes:
              prod:
                addr: https://prod.example:8443
                protocol: lxd
                auth_type: tls
                public: false
            aliases: {}
            """);
        var config = RemoteConfig.Load(cli.ConfDir);
        Assert.Equal("prod", config.DefaultRemote);
        Assert.Equal("https://prod.example:8443", config.Remotes["prod"].Addr);
        Assert.False(config.Remotes.ContainsKey("local"));
    }

    [Fact]
    public void ParseRemoteSplitsOnFirstColonAndChecksTheRemote()
    {
        using var cli = new TestCli();
        var config = RemoteConfig.Load(cli.ConfDir);
        Assert.Equal(("local", "p1"), config.ParseRemote("p1"));
        Assert.Equal(("local", ""), config.ParseRemote("local:"));
        Assert.Equal(("local", "a:b"), config.ParseRemote("local:a:b"));
        var e = Assert.Throws<CliException>(() => config.ParseRemote("nope:p1"));
        Assert.Equal("The remote \"nope\" doesn't exist", e.Message);
    }

    [Fact]
    public async Task SwitchAndRemovePersistAndProtectTheDefault()
    {
        using var cli = new TestCli();
        var config = RemoteConfig.Load(cli.ConfDir);
        config.Remotes["other"] = new RemoteEntry { Addr = "unix:///tmp/x.socket" };
        config.Save();

        Assert.Equal(0, (await cli.RunAsync("remote", "switch", "other")).ExitCode);
        Assert.Equal("other\n", (await cli.RunAsync("remote", "get-default")).Out);
        var list = await cli.RunAsync("remote", "list");
        Assert.Contains("| other (current) | unix:///tmp/x.socket |", list.Out);

        var refused = await cli.RunAsync("remote", "remove", "other");
        Assert.Equal(1, refused.ExitCode);
        Assert.Equal("Error: Can't remove the default remote\n", refused.Err);

        Assert.Equal(0, (await cli.RunAsync("remote", "remove", "local")).ExitCode);
        Assert.Equal(["other"], RemoteConfig.Load(cli.ConfDir).Remotes.Keys);

        var missing = await cli.RunAsync("remote", "switch", "gone");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal("Error: The remote \"gone\" doesn't exist\n", missing.Err);
    }

    [Theory]
    [InlineData("10.0.0.1", "https://10.0.0.1:8443/")]
    [InlineData("10.0.0.1:9443", "https://10.0.0.1:9443/")]
    [InlineData("https://host.example", "https://host.example:8443/")]
    [InlineData("https://host.example:443", "https://host.example/")]
    [InlineData("[::1]:8443", "https://[::1]:8443/")]
    public void NormalizesRemoteAddressesLikeLxc(string input, string expected) =>
        Assert.Equal(expected, Commands.RemoteCommands.NormalizeAddress(input).ToString());

    [Theory]
    [InlineData("http://host")]
    [InlineData("https://host/path")]
    public void RejectsAddressesThatAreNotHttpsHosts(string input) =>
        Assert.Throws<UsageException>(() => Commands.RemoteCommands.NormalizeAddress(input));
}
