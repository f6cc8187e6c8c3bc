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
}
