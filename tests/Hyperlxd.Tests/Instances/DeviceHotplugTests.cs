using System.Collections.Concurrent;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;
using Hyperlxd.Images;
using Hyperlxd.Instances;
using Hyperlxd.Storage;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.State;
using Microsoft.Extensions.DependencyInjection;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// The networking layer as the device model sees it, recording every call in one shared log; refuses
/// what <see cref="FailPlug"/> / <see cref="FailCheck"/> name. The tests are about the manager's
/// device lifecycle, not about veths.
/// </summary>
internal sealed class RecordingNetworkHost(ConcurrentQueue<string> log) : INetworkHost
{
    public string? FailPlug { get; set; }

    public string? FailCheck { get; set; }

    public Task CheckNicAsync(NicRequest nic, CancellationToken ct)
    {
        log.Enqueue($"check {nic.Device}");
        return nic.Device == FailCheck ? throw new ConflictException($"MAC address \"{nic.Config.GetValueOrDefault("hwaddr")}\" already defined on another NIC") : Task.CompletedTask;
    }

    public Task<NicPlan> PlugNicAsync(NicRequest nic, CancellationToken ct)
    {
        log.Enqueue($"plug {nic.Device}");
        if (nic.Device == FailPlug)
        {
            throw new ConflictException($"Device \"{nic.Device}\": refused by the test");
        }
        var hwaddr = nic.Volatile.GetValueOrDefault("hwaddr") ?? "00:16:3e:00:00:" + (nic.Device.Length % 100).ToString("d2");
        var host = "veth" + nic.Device;
        return Task.FromResult(new NicPlan(nic.Device, host, nic.Config.GetValueOrDefault("name", nic.Device), hwaddr, 1500,
            new Dictionary<string, string> { ["hwaddr"] = hwaddr, ["host_name"] = host }));
    }

    public Task UnplugNicAsync(NicRequest nic, CancellationToken ct)
    {
        log.Enqueue($"unplug {nic.Device} {nic.Volatile.GetValueOrDefault("host_name", "-")}");
        return Task.CompletedTask;
    }

    public Task AddProxyNatAsync(ProxyNat rule, CancellationToken ct)
    {
        log.Enqueue($"nat {rule.Device} {rule.Protocol} {rule.ListenAddress}:{rule.ListenPort}->{rule.TargetAddress}:{rule.TargetPort}");
        return Task.CompletedTask;
    }

    public Task RemoveProxyNatAsync(string instance, string device, CancellationToken ct)
    {
        log.Enqueue($"unnat {device}");
        return Task.CompletedTask;
    }
}

/// <summary>The proxy forwarders, recorded; <see cref="Fail"/> makes a start a 409 (a port taken).</summary>
internal sealed class RecordingForwarders(ConcurrentQueue<string> log) : IProxyForwarders
{
    public string? Fail { get; set; }

    public Task StartAsync(ProxyForward forward, CancellationToken ct)
    {
        log.Enqueue($"forward {forward.Device} {forward.Netns} {forward.Listen} {forward.Connect}");
        return forward.Device == Fail ? throw new ConflictException($"Device \"{forward.Device}\": port taken") : Task.CompletedTask;
    }

    public Task StopAsync(string instance, string device, CancellationToken ct)
    {
        log.Enqueue($"unforward {device}");
        return Task.CompletedTask;
    }
}

/// <summary>A container driver that only records (start, stop, nic attach) in the shared log; "runs" what it started.</summary>
internal sealed class RecordingContainerDriver(ConcurrentQueue<string> log) : IInstanceDriver
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _running = new();

    public InstanceSpec? Started { get; private set; }

    public string? FailAttach { get; set; }

    public InstanceType Type => InstanceType.Container;

    public DriverInfo Info { get; } = new("recording", "1", true, null);

    public DriverFeatures Features => DriverFeatures.None;

    public Task<IReadOnlyDictionary<string, string>> PrepareAsync(InstanceSpec spec, CancellationToken ct) =>
        Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

    public Task StartAsync(InstanceSpec spec, CancellationToken ct)
    {
        log.Enqueue($"start {string.Join(",", spec.Nics.Select(n => n.Device + "=" + n.HostName))}");
        Started = spec;
        _running[spec.Name] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Task.CompletedTask;
    }

    public async Task<ExitInfo?> WaitExitAsync(InstanceSpec spec, CancellationToken ct)
    {
        if (_running.TryGetValue(spec.Name, out var run))
        {
            await run.Task.WaitAsync(ct);
        }
        return null;
    }

    public Task StopAsync(InstanceSpec spec, bool force, TimeSpan timeout, CancellationToken ct)
    {
        log.Enqueue("stop");
        if (_running.TryRemove(spec.Name, out var run))
        {
            run.TrySetResult();
        }
        return Task.CompletedTask;
    }

    public Task AttachNicAsync(InstanceSpec spec, NicPlan nic, CancellationToken ct)
    {
        log.Enqueue($"attach {nic.Device} {nic.HostName}->{nic.Name}");
        return nic.Device == FailAttach ? throw new BadRequestException($"attach of {nic.Device} refused by the test") : Task.CompletedTask;
    }

    public Task<string?> NetworkNamespaceAsync(InstanceSpec spec, CancellationToken ct) =>
        Task.FromResult<string?>(_running.ContainsKey(spec.Name) ? "/proc/4242/ns/net" : null);

    public Task AttachDeviceAsync(InstanceSpec spec, string device, IReadOnlyList<DeviceMount> mounts, IReadOnlyList<DeviceNode> nodes, CancellationToken ct)
    {
        log.Enqueue($"mount {device} {string.Join(",", mounts.Select(m => $"{m.Source}->{m.Target}"))}");
        return device == FailAttach ? throw new BadRequestException($"mount of {device} refused by the test") : Task.CompletedTask;
    }

    public Task DetachDeviceAsync(InstanceSpec spec, string device, IReadOnlyList<string> targets, CancellationToken ct)
    {
        log.Enqueue($"unmount {device} {string.Join(",", targets)}");
        return Task.CompletedTask;
    }

    public Task FreezeAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
    public Task UnfreezeAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
    public Task CleanupAsync(InstanceSpec spec, CancellationToken ct) => Task.CompletedTask;
    public Task RenameAsync(InstanceSpec spec, string newName, CancellationToken ct) => Task.CompletedTask;
    public Task ReconcileAsync(IReadOnlyCollection<InstanceSpec> known, CancellationToken ct) => Task.CompletedTask;

    public Task<RuntimeState> GetStateAsync(InstanceSpec spec, CancellationToken ct) =>
        Task.FromResult(_running.ContainsKey(spec.Name)
            ? new RuntimeState(InstanceStatus.Running, 4242, 1, 0, 0, 0, new Dictionary<string, NetworkState>(), null)
            : RuntimeState.Stopped());

    public Task ApplyConfigAsync(InstanceSpec spec, IReadOnlyDictionary<string, string> changed, CancellationToken ct) => Task.CompletedTask;
    public Task<IExecSession> ExecAsync(InstanceSpec spec, ExecOptions options, CancellationToken ct) => throw new NotSupportedException();
    public Task<Stream> ConsoleAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
    public Task<byte[]> ConsoleLogAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
    public Task<InstanceFile> GetFileAsync(InstanceSpec spec, string path, CancellationToken ct) => throw new NotSupportedException();
    public Task PutFileAsync(InstanceSpec spec, string path, FileWrite write, Stream content, CancellationToken ct) => throw new NotSupportedException();
    public Task DeleteFileAsync(InstanceSpec spec, string path, CancellationToken ct) => throw new NotSupportedException();
}

/// <summary>
/// The manager's nic and proxy lifecycle, built from DI as the daemon builds it (real PostgreSQL, a dir
/// pool, the busybox image) with a recording network host, forwarders and driver: config-time checks,
/// setup/teardown order and volatile keys, hot-plug on a running instance all or nothing.
/// </summary>
public sealed class DeviceHotplugTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private readonly string _dir = Repo.TempDir("hlx-hotplug-");
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _pool = "p" + Guid.NewGuid().ToString("N")[..8];
    private RecordingNetworkHost _net = null!;
    private RecordingForwarders _forwarders = null!;
    private RecordingContainerDriver _driver = null!;
    private ServiceProvider _services = null!;
    private string _fingerprint = "";

    private static CancellationToken Ct => CancellationToken.None;

    private InstanceManager Manager => _services.GetRequiredService<InstanceManager>();

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        _net = new RecordingNetworkHost(_log);
        _forwarders = new RecordingForwarders(_log);
        _driver = new RecordingContainerDriver(_log);
        _services = await BuildAsync(withNetworks: true);
        await _services.GetRequiredService<StoragePools>().CreateAsync(_pool, "dir", "", new(), Ct);
        await _services.GetRequiredService<ProfileService>().UpdateAsync("default", new ProfilePut
        {
            Devices = new() { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = _pool } },
        }, patch: true, _ => { }, null, Ct);
        var images = _services.GetRequiredService<ImageStore>();
        await using var upload = images.BeginUpload(ImageStore.DefaultMaxUploadSize);
        await using (var s = File.OpenRead(ImageFixture.Busybox))
        {
            await upload.AddPartAsync(Path.GetFileName(ImageFixture.Busybox), s, Ct);
        }
        _fingerprint = (await images.ImportAsync(upload, new ImportOptions(), Ct)).Fingerprint;
    }

    private async Task<ServiceProvider> BuildAsync(bool withNetworks)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<EventHub>();
        services.AddSingleton<IInstanceDriver>(_driver);
        services.AddSingleton<InstanceDrivers>();
        services.AddInstanceLayer(new InstanceLayerOptions(_dir, pg.Server.ConnectionString, "hyperlxd-db"));
        services.AddSingleton<IProxyForwarders>(_forwarders);
        if (withNetworks)
        {
            services.AddSingleton<INetworkHost>(_net);
        }
        var provider = services.BuildServiceProvider();
        var layer = provider.GetRequiredService<InstanceLayer>();
        await layer.OpenAsync(Ct);
        await layer.StartAsync(Ct);
        return provider;
    }

    public async Task DisposeAsync()
    {
        foreach (var r in await Manager.ListAsync(Ct))
        {
            if ((await _driver.GetStateAsync(Manager.SpecOf(await Manager.LoadAsync(r.Name, Ct)), Ct)).Status != InstanceStatus.Stopped)
            {
                await Manager.ChangeStateAsync(r.Name, new InstanceStatePut { Action = "stop", Force = true, Timeout = 1 }, Ct);
            }
            await Manager.DeleteAsync(r.Name, Ct);
        }
        await _services.GetRequiredService<ImageStore>().DeleteAsync(_fingerprint, Ct);
        await _services.GetRequiredService<ProfileService>().UpdateAsync("default", new ProfilePut(), patch: false, _ => { }, null, Ct);
        var pools = _services.GetRequiredService<StoragePools>();
        await pools.DeleteAsync(pools.Get(_pool), Ct);
        var layer = _services.GetRequiredService<InstanceLayer>();
        await layer.StopAsync();
        await pools.UnmountAllAsync();
        await layer.CloseAsync();
        await _services.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    private static Dictionary<string, string> Nic(string network = "net1", string? name = null) =>
        name is null ? new() { ["type"] = "nic", ["network"] = network } : new() { ["type"] = "nic", ["network"] = network, ["name"] = name };

    private static Dictionary<string, string> Proxy(string listen = "tcp:127.0.0.1:8080", string connect = "tcp:127.0.0.1:80") =>
        new() { ["type"] = "proxy", ["listen"] = listen, ["connect"] = connect };

    private async Task CreateAsync(string name, Dictionary<string, Dictionary<string, string>> devices)
    {
        var (record, fp) = await Manager.PrepareCreateAsync(new InstancesPost
        {
            Name = name,
            Source = new InstanceSource { Type = "image", Fingerprint = _fingerprint },
            Devices = devices,
        }, Ct);
        await Manager.CreateAsync(record, fp, Ct);
    }

    private Task StartAsync(string name) => Manager.ChangeStateAsync(name, new InstanceStatePut { Action = "start", Timeout = 5 }, Ct);

    private Task StopAsync(string name) => Manager.ChangeStateAsync(name, new InstanceStatePut { Action = "stop", Timeout = 5 }, Ct);

    private Task PatchDevicesAsync(string name, Dictionary<string, Dictionary<string, string>?> devices) =>
        Manager.UpdateAsync(name, new InstancePut { Devices = devices! }, patch: true, _ => { }, Ct);

    private async Task<Dictionary<string, string>> VolatileAsync(string name, string device) =>
        (await Manager.LoadAsync(name, Ct)).Record.Config.Where(kv => kv.Key.StartsWith($"volatile.{device}.", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[$"volatile.{device}.".Length..], kv => kv.Value);

    /// <summary>What was logged since the last call.</summary>
    private List<string> Drain()
    {
        var calls = new List<string>();
        while (_log.TryDequeue(out var c))
        {
            calls.Add(c);
        }
        return calls;
    }

    [Fact]
    public async Task Start_plugs_nics_before_the_driver_and_proxies_after_it_stop_undoes_both_in_reverse()
    {
        await CreateAsync("hp-start", new() { ["eth0"] = Nic(name: "eth0"), ["web"] = Proxy() });
        Assert.Equal(["check eth0"], Drain()); // the host checks ran at create

        await StartAsync("hp-start");
        Assert.Equal(["plug eth0", "start eth0=vetheth0", "forward web /proc/4242/ns/net tcp:127.0.0.1:8080 tcp:127.0.0.1:80"], Drain());
        var plan = Assert.Single(_driver.Started!.Nics);
        Assert.Equal(("eth0", "vetheth0"), (plan.Name, plan.HostName));
        Assert.Equal(new Dictionary<string, string> { ["hwaddr"] = "00:16:3e:00:00:04", ["host_name"] = "vetheth0" }, await VolatileAsync("hp-start", "eth0"));

        // A restarted daemon finds it running: the proxy is resumed (the real forwarders adopt theirs).
        await Manager.StartupAsync(Ct);
        Assert.Contains("forward web /proc/4242/ns/net tcp:127.0.0.1:8080 tcp:127.0.0.1:80", Drain());

        await StopAsync("hp-start");
        Assert.Equal(["stop", "unforward web", "unnat web", "unplug eth0 vetheth0"], Drain());
        // The generated MAC stays the instance's; the host-side name was the run's.
        Assert.Equal(new Dictionary<string, string> { ["hwaddr"] = "00:16:3e:00:00:04" }, await VolatileAsync("hp-start", "eth0"));
    }

    [Fact]
    public async Task A_nat_proxy_targets_the_static_address_of_the_bridged_nic()
    {
        await CreateAsync("hp-nat", new()
        {
            ["eth0"] = new() { ["type"] = "nic", ["network"] = "net1", ["ipv4.address"] = "10.0.3.10" },
            ["web"] = new() { ["type"] = "proxy", ["listen"] = "tcp:192.0.2.1:80-81", ["connect"] = "tcp:0.0.0.0:8080", ["nat"] = "true" },
        });
        await StartAsync("hp-nat");
        var calls = Drain();
        Assert.Contains("nat web tcp 192.0.2.1:80->10.0.3.10:8080", calls);
        Assert.Contains("nat web tcp 192.0.2.1:81->10.0.3.10:8080", calls);

        // A NAT proxy whose connect address no nic holds: the hot-plug is a 400 with LXD's message, nothing stored.
        var e = await Assert.ThrowsAsync<BadRequestException>(() => PatchDevicesAsync("hp-nat",
            new() { ["db"] = new() { ["type"] = "proxy", ["listen"] = "tcp:192.0.2.1:5432", ["connect"] = "tcp:10.0.3.99:5432", ["nat"] = "true" } }));
        Assert.Contains("Connect IP \"10.0.3.99\" must be one of the instance's static IPv4 addresses", e.Message);
        Assert.DoesNotContain("db", (await Manager.LoadAsync("hp-nat", Ct)).Record.Devices.Keys);
        Assert.Contains("unnat db", Drain()); // its partial rules removed
    }

    [Fact]
    public async Task Nics_and_proxies_are_hot_plugged_changed_and_removed_on_a_running_instance()
    {
        await CreateAsync("hp-live", new());
        await StartAsync("hp-live");
        Drain();

        await PatchDevicesAsync("hp-live", new() { ["eth1"] = Nic(name: "eth1") });
        // Checked with the config (every nic), checked as an addition, plugged, moved in by the driver.
        Assert.Equal(["check eth1", "check eth1", "plug eth1", "attach eth1 vetheth1->eth1"], Drain());
        Assert.Equal("vetheth1", (await VolatileAsync("hp-live", "eth1"))["host_name"]);

        // A change is a removal then an addition; the generated MAC is kept.
        var mac = (await VolatileAsync("hp-live", "eth1"))["hwaddr"];
        await PatchDevicesAsync("hp-live", new() { ["eth1"] = Nic(name: "eth9") });
        Assert.Equal(["check eth1", "check eth1", "unplug eth1 vetheth1", "plug eth1", "attach eth1 vetheth1->eth9"], Drain());
        Assert.Equal(mac, (await VolatileAsync("hp-live", "eth1"))["hwaddr"]);

        await PatchDevicesAsync("hp-live", new() { ["web"] = Proxy() });
        Assert.Contains("forward web /proc/4242/ns/net tcp:127.0.0.1:8080 tcp:127.0.0.1:80", Drain());

        // Removal: torn down, its volatile keys gone with it.
        await Manager.UpdateAsync("hp-live", new InstancePut { Devices = new() }, patch: false, _ => { }, Ct);
        var calls = Drain();
        Assert.Contains("unforward web", calls);
        Assert.Contains("unplug eth1 vetheth1", calls);
        Assert.Empty(await VolatileAsync("hp-live", "eth1"));
        Assert.Empty((await Manager.LoadAsync("hp-live", Ct)).Record.Devices);

        // Disks (issue 14): their mounts go to the driver, and come out again on removal.
        await PatchDevicesAsync("hp-live", new() { ["data"] = new() { ["type"] = "disk", ["source"] = "/tmp", ["path"] = "/mnt" } });
        Assert.Equal(["mount data /tmp->/mnt"], Drain());
        await Manager.UpdateAsync("hp-live", new InstancePut { Devices = new() }, patch: false, _ => { }, Ct);
        Assert.Equal(["unmount data /mnt"], Drain());
        Assert.Empty((await Manager.LoadAsync("hp-live", Ct)).Record.Devices);

        // A mount the driver refuses: the request's 400, nothing stored.
        _driver.FailAttach = "data";
        var e = await Assert.ThrowsAsync<BadRequestException>(() => PatchDevicesAsync("hp-live",
            new() { ["data"] = new() { ["type"] = "disk", ["source"] = "/tmp", ["path"] = "/mnt" } }));
        Assert.Contains("mount of data refused by the test", e.Message);
        Assert.Empty((await Manager.LoadAsync("hp-live", Ct)).Record.Devices);
    }

    [Fact]
    public async Task A_failing_hot_plug_undoes_what_it_made_and_stores_nothing()
    {
        await CreateAsync("hp-fail", new() { ["eth0"] = Nic(name: "eth0") });
        await StartAsync("hp-fail");
        Drain();
        var before = (await Manager.LoadAsync("hp-fail", Ct)).Record;

        // eth1 goes in, then zz's plug fails: eth1 comes out again.
        _net.FailPlug = "zz";
        var e = await Assert.ThrowsAsync<ConflictException>(() => PatchDevicesAsync("hp-fail", new() { ["eth1"] = Nic(name: "eth1"), ["zz"] = Nic(name: "eth2") }));
        Assert.Contains("zz", e.Message);
        var calls = Drain();
        Assert.True(calls.IndexOf("unplug eth1 vetheth1") > calls.IndexOf("attach eth1 vetheth1->eth1"), string.Join(", ", calls));
        _net.FailPlug = null;

        // The driver refuses the attach: the nic's host side goes.
        _driver.FailAttach = "eth1";
        await Assert.ThrowsAsync<BadRequestException>(() => PatchDevicesAsync("hp-fail", new() { ["eth1"] = Nic(name: "eth1") }));
        Assert.Contains("unplug eth1 vetheth1", Drain());
        _driver.FailAttach = null;

        // A removal followed by a failing addition: the removed device is plugged back.
        _forwarders.Fail = "web";
        await Assert.ThrowsAsync<ConflictException>(() => Manager.UpdateAsync("hp-fail",
            new InstancePut { Devices = new() { ["web"] = Proxy() } }, patch: false, _ => { }, Ct));
        calls = Drain();
        Assert.True(calls.IndexOf("plug eth0") > calls.IndexOf("unplug eth0 vetheth0"), string.Join(", ", calls));
        Assert.Contains("attach eth0 vetheth0->eth0", calls);
        _forwarders.Fail = null;

        var after = (await Manager.LoadAsync("hp-fail", Ct)).Record;
        Assert.Equal(before.Devices.Keys.Order(), after.Devices.Keys.Order());
        Assert.Equal(before.Config.Where(kv => kv.Key.StartsWith("volatile.eth", StringComparison.Ordinal)).OrderBy(kv => kv.Key),
            after.Config.Where(kv => kv.Key.StartsWith("volatile.eth", StringComparison.Ordinal)).OrderBy(kv => kv.Key));
    }

    [Fact]
    public async Task A_failing_post_start_hook_fails_the_start_and_undoes_it()
    {
        await CreateAsync("hp-poststart", new() { ["eth0"] = Nic(name: "eth0"), ["web"] = Proxy() });
        Drain();
        _forwarders.Fail = "web";
        await Assert.ThrowsAsync<ConflictException>(() => StartAsync("hp-poststart"));
        _forwarders.Fail = null;
        var calls = Drain();
        Assert.Equal(["plug eth0", "start eth0=vetheth0", "forward web /proc/4242/ns/net tcp:127.0.0.1:8080 tcp:127.0.0.1:80", "stop", "unforward web", "unnat web", "unplug eth0 vetheth0"], calls);
        Assert.Equal(InstanceStatus.Stopped, (await _driver.GetStateAsync(Manager.SpecOf(await Manager.LoadAsync("hp-poststart", Ct)), Ct)).Status);
    }

    [Fact]
    public async Task Host_checks_refuse_a_nic_at_the_request()
    {
        _net.FailCheck = "eth0";
        var e = await Assert.ThrowsAsync<ConflictException>(() => CreateAsync("hp-check", new() { ["eth0"] = new() { ["type"] = "nic", ["network"] = "net1", ["hwaddr"] = "00:16:3e:01:02:03" } }));
        Assert.Contains("MAC address \"00:16:3e:01:02:03\" already defined on another NIC", e.Message);
        Assert.DoesNotContain(await Manager.ListAsync(Ct), r => r.Name == "hp-check");

        await CreateAsync("hp-check2", new());
        await Assert.ThrowsAsync<ConflictException>(() => PatchDevicesAsync("hp-check2", new() { ["eth0"] = Nic() }));
        Assert.Empty((await Manager.LoadAsync("hp-check2", Ct)).Record.Devices);
        _net.FailCheck = null;
    }

    [Fact]
    public async Task Without_a_network_host_the_manager_builds_and_refuses_nics_with_a_400()
    {
        await using var bare = await BuildAsync(withNetworks: false);
        var manager = bare.GetRequiredService<InstanceManager>();
        var e = await Assert.ThrowsAsync<BadRequestException>(() => manager.PrepareCreateAsync(new InstancesPost
        {
            Name = "hp-nonet",
            Source = new InstanceSource { Type = "image", Fingerprint = _fingerprint },
            Devices = new() { ["eth0"] = Nic() },
        }, Ct));
        Assert.Contains("Device \"eth0\": Networking is not available on this server", e.Message);
        var layer = bare.GetRequiredService<InstanceLayer>();
        await layer.StopAsync();
        await layer.CloseAsync();
    }
}
