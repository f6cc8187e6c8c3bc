using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Containers;

/// <summary>The driver's side of <c>security.idmap.isolated</c> and <c>raw.idmap</c>: allocation against other containers, the chown shift between maps.</summary>
[Collection("containers")]
public sealed class ContainerIdmapTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static Func<CancellationToken, Task<IReadOnlyList<IReadOnlyDictionary<string, string>>>> Others(params Dictionary<string, string>[] others) =>
        _ => Task.FromResult<IReadOnlyList<IReadOnlyDictionary<string, string>>>(others);

    [Fact]
    public async Task Isolation_on_the_chown_fallback_moves_the_disk_to_a_free_range()
    {
        await using var c = await TestContainer.CreateAsync(idmappedMounts: false);
        Assert.Equal("0 1000000 65536", await UidMapAsync(c));
        Assert.Equal(0, (await c.ExecAsync("sh", "-c", "echo x > /root/made; chown 1000:1000 /root/made; chmod 4755 /root/made")).Code);
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);

        // Another isolated container holds the first range above the shared map: this one gets the next.
        c.WithConfig(new Dictionary<string, string> { ["security.idmap.isolated"] = "true" });
        var other = new Dictionary<string, string> { ["security.idmap.isolated"] = "true", ["volatile.idmap.base"] = "1065536" };
        c.WithConfig(await c.Driver.PlanVolatileAsync(c.Spec.Config, Others(other), None));
        Assert.Equal("1131072", c.Spec.Config["volatile.idmap.base"]);
        // Planned again with nothing changed, it keeps its range.
        Assert.Equal("1131072", (await c.Driver.PlanVolatileAsync(c.Spec.Config, Others(other), None))["volatile.idmap.base"]);

        c.WithConfig(await c.Driver.PrepareAsync(c.Spec, None));
        Assert.Contains("\"Hostid\":1131072", c.Spec.Config["volatile.last_state.idmap"]);
        Assert.Equal((1131072u, 1131072u), await OwnerAsync(Path.Combine(c.RootFs, "bin", "busybox")));
        Assert.Equal((1132072u, 1132072u), await OwnerAsync(Path.Combine(c.RootFs, "root", "made")));
        await c.Driver.StartAsync(c.Spec, None);
        Assert.Equal("0 1131072 65536", await UidMapAsync(c));
        Assert.Equal("0:0", (await c.ExecAsync("stat", "-c", "%u:%g", "/bin/busybox")).Out.Trim());
        Assert.Equal("1000:1000 4755", (await c.ExecAsync("stat", "-c", "%u:%g %a", "/root/made")).Out.Trim());
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);

        // raw.idmap: container id 1000 is host id 1000, on the disk and in the kernel's map.
        c.WithConfig(new Dictionary<string, string> { ["raw.idmap"] = "both 1000 1000" });
        c.WithConfig(await c.Driver.PlanVolatileAsync(c.Spec.Config, Others(other), None));
        c.WithConfig(await c.Driver.PrepareAsync(c.Spec, None));
        Assert.Equal((1000u, 1000u), await OwnerAsync(Path.Combine(c.RootFs, "root", "made")));
        await c.Driver.StartAsync(c.Spec, None);
        Assert.Equal("0 1131072 1000|1000 1000 1|1001 1132073 64535", await UidMapAsync(c));
        Assert.Equal("1000:1000 4755", (await c.ExecAsync("stat", "-c", "%u:%g %a", "/root/made")).Out.Trim());
    }

    private static async Task<string> UidMapAsync(TestContainer c) =>
        string.Join('|', (await File.ReadAllLinesAsync($"/proc/{await c.InitPidAsync()}/uid_map"))
            .Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))));

    private static async Task<(uint Uid, uint Gid)> OwnerAsync(string path)
    {
        var r = await ProcessRunner.RunAsync("stat", new[] { "-c", "%u %g", path });
        var f = r.Stdout.Trim().Split(' ');
        return (uint.Parse(f[0]), uint.Parse(f[1]));
    }
}
