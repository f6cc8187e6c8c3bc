using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Tests.Interop;

/// <summary>
/// A named network namespace made for one test (<c>ip netns add hlx-nl-…</c>) and deleted with it, so no
/// link, address or route a test makes is ever in the host's namespace.
/// </summary>
public sealed class TestNetns : IAsyncDisposable
{
    private TestNetns(string name) => Name = name;

    public string Name { get; }

    /// <summary>/run/netns/NAME: what RtNetlink.OpenIn and <c>ip netns exec</c> take.</summary>
    public string Path => "/run/netns/" + Name;

    public static async Task<TestNetns> CreateAsync(string prefix = "hlx-nl")
    {
        var name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        await HostCommand.RunAsync("ip", ["netns", "add", name]);
        return new TestNetns(name);
    }

    /// <summary>A program run inside the namespace (ip netns exec).</summary>
    public Task<string> RunAsync(string program, params string[] args) =>
        HostCommand.RunAsync("ip", ["netns", "exec", Name, program, .. args]);

    public async ValueTask DisposeAsync() => await HostCommand.RunUncheckedAsync("ip", ["netns", "delete", Name]);
}
