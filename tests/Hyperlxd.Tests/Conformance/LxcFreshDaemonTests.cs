using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>A daemon that has never started an instance (no run directory yet): what a new install does first.</summary>
public sealed class LxcFreshDaemonTests : IAsyncLifetime
{
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        _daemon = await DaemonProcess.StartAsync();
        await OkAsync("storage", "create", "default", "dir");
        await OkAsync("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
        await OkAsync("image", "import", ImageFixture.Busybox, "--alias", "busybox");
    }

    public Task DisposeAsync() => _daemon.DisposeAsync().AsTask();

    private async Task<string> OkAsync(params string[] args)
    {
        var r = await _daemon.LxcAsync(args);
        Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', args)}: {r}\n{_daemon.Log}");
        return r.Stdout;
    }

    [Fact]
    public async Task A_never_started_container_is_renamed_and_deleted()
    {
        await OkAsync("init", "busybox", "fresh1");
        await OkAsync("move", "fresh1", "fresh2");
        Assert.Equal("fresh2,STOPPED", (await OkAsync("list", "-c", "ns", "--format", "csv")).Trim());
        await OkAsync("delete", "fresh2");
        Assert.Equal("", (await OkAsync("list", "-c", "n", "--format", "csv")).Trim());
    }

    [Fact]
    public async Task An_init_without_a_name_gets_a_generated_one()
    {
        var names = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var init = await OkAsync("init", "busybox");
            names.Add(System.Text.RegularExpressions.Regex.Match(init, @"Instance name is: (\S+)").Groups[1].Value);
        }
        Assert.All(names, n => Assert.Matches("^[a-z]+-[a-z]+$", n));
        Assert.NotEqual(names[0], names[1]);
        Assert.Equal(names.Order(), (await OkAsync("list", "-c", "n", "--format", "csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
        // lxc 5.0.2's copy without a target reuses the source's name (meant for another remote): refused by name, as LXD.
        var copy = await _daemon.LxcAsync("copy", names[0]);
        Assert.NotEqual(0, copy.ExitCode);
        Assert.Contains($"\"{names[0]}\" already exists", copy.Stderr);
    }
}
