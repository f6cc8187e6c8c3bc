using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// One daemon initialised with <c>hyperlxd init --auto</c> and the busybox image imported as
/// "busybox", shared by the container tests (lxc, pylxd, API, bad input). Tests use distinct
/// instance names and delete what they launch; disposal force-deletes anything left.
/// </summary>
public sealed class ContainerDaemon : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        Daemon = await DaemonProcess.StartAsync();
        await Daemon.PrepareContainersAsync(ImageFixture.Busybox);
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Daemon.DeleteAllInstancesAsync();
        }
        finally
        {
            await Daemon.DisposeAsync();
        }
    }

    public Task<string> LxcOkAsync(params string[] args) => Daemon.LxcOkAsync(args);

    /// <summary>Launches a busybox container and returns a handle that force-deletes it.</summary>
    public async Task<LaunchedContainer> LaunchAsync(string name, params string[] extra)
    {
        await LxcOkAsync(["launch", "busybox", name, .. extra]);
        return new LaunchedContainer(this, name);
    }

    /// <summary>The container's init pid as the host sees it (from GET .../state).</summary>
    public async Task<int> InitPidAsync(string name)
    {
        var state = await Daemon.Api.GetAsync($"/1.0/instances/{name}/state");
        return state.Metadata.GetProperty("pid").GetInt32();
    }
}

public sealed class LaunchedContainer(ContainerDaemon fixture, string name) : IAsyncDisposable
{
    public string Name { get; } = name;

    public async ValueTask DisposeAsync() => await fixture.Daemon.LxcAsync("delete", "--force", Name);
}

[CollectionDefinition(Name)]
public sealed class ContainerDaemonCollection : ICollectionFixture<ContainerDaemon>
{
    public const string Name = "container daemon";
}
