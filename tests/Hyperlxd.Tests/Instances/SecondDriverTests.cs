using System.Collections.Concurrent;
using System.Formats.Tar;
using System.IO.Compression;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Images;
using Hyperlxd.Instances;
using Hyperlxd.Storage;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.State;
using Microsoft.Extensions.DependencyInjection;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// A VM driver that only records what the instance layer asks of it: the test is about the manager
/// driving a second instance type through the same registry, not about virtual machines.
/// </summary>
internal sealed class FakeVmDriver : IInstanceDriver
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _running = new();

    public ConcurrentQueue<string> Calls { get; } = new();

    /// <summary>The spec of the last start (what the devices' setup produced).</summary>
    public InstanceSpec? Started { get; private set; }

    public InstanceType Type => InstanceType.VirtualMachine;

    public DriverInfo Info { get; } = new("fake-vm", "1", true, null);

    /// <summary>A guest agent without a pty, signals, files or console.</summary>
    public DriverFeatures Features => DriverFeatures.None;

    public Task<IReadOnlyDictionary<string, string>> PrepareAsync(InstanceSpec spec, CancellationToken ct)
    {
        Calls.Enqueue("prepare " + spec.Name);
        return Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());
    }

    public Task StartAsync(InstanceSpec spec, CancellationToken ct)
    {
        Calls.Enqueue("start " + spec.Name);
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
        return null; // stopped through the API: the manager records that itself
    }

    public Task StopAsync(InstanceSpec spec, bool force, TimeSpan timeout, CancellationToken ct)
    {
        Calls.Enqueue("stop " + spec.Name);
        if (_running.TryRemove(spec.Name, out var run))
        {
            run.TrySetResult();
        }
        return Task.CompletedTask;
    }

    public Task FreezeAsync(InstanceSpec spec, CancellationToken ct) => throw new BadRequestException("not supported");

    public Task UnfreezeAsync(InstanceSpec spec, CancellationToken ct) => throw new BadRequestException("not supported");

    public Task CleanupAsync(InstanceSpec spec, CancellationToken ct)
    {
        Calls.Enqueue("cleanup " + spec.Name);
        return Task.CompletedTask;
    }

    public void Forget(InstanceSpec spec) => Calls.Enqueue("forget " + spec.Name);

    public Task RenameAsync(InstanceSpec spec, string newName, CancellationToken ct)
    {
        Calls.Enqueue($"rename {spec.Name} {newName}");
        return Task.CompletedTask;
    }

    public Task BeforeSnapshotAsync(InstanceSpec spec, CancellationToken ct)
    {
        Calls.Enqueue("before-snapshot " + spec.Name);
        return Task.CompletedTask;
    }

    public Task AfterSnapshotAsync(InstanceSpec spec, CancellationToken ct)
    {
        Calls.Enqueue("after-snapshot " + spec.Name);
        return Task.CompletedTask;
    }

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
/// The instance manager with a second driver type (<see cref="FakeVmDriver"/>) in <see cref="InstanceDrivers"/>:
/// the daemon's own object graph in-process (real state store on an embedded PostgreSQL, a dir pool,
/// the image store), without HTTP, so the driver the test defines is the one the manager calls.
/// </summary>
public sealed class SecondDriverTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private readonly string _dir = Repo.TempDir("hlx-vm-");
    private readonly FakeVmDriver _driver = new();
    private readonly string _pool = "p" + Guid.NewGuid().ToString("N")[..8];
    private ServiceProvider _services = null!;
    private string _fingerprint = "";

    private static CancellationToken Ct => CancellationToken.None;

    private InstanceManager Manager => _services.GetRequiredService<InstanceManager>();

    private ImageStore Images => _services.GetRequiredService<ImageStore>();

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<EventHub>();
        services.AddSingleton<IInstanceDriver>(_driver);
        services.AddSingleton<InstanceDrivers>();
        services.AddInstanceLayer(new InstanceLayerOptions(_dir, pg.Server.ConnectionString, "hyperlxd-db"));
        _services = services.BuildServiceProvider();
        var layer = _services.GetRequiredService<InstanceLayer>();
        await layer.OpenAsync(Ct);
        await layer.StartAsync(Ct);
        await _services.GetRequiredService<StoragePools>().CreateAsync(_pool, "dir", "", new(), Ct);
        await _services.GetRequiredService<ProfileService>().UpdateAsync("default", new ProfilePut
        {
            Devices = new() { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = _pool } },
        }, patch: true, _ => { }, null, Ct);
        _fingerprint = await ImportVmImageAsync();
    }

    public async Task DisposeAsync()
    {
        await Images.DeleteAsync(_fingerprint, Ct);
        await _services.GetRequiredService<ProfileService>().UpdateAsync("default", new ProfilePut(), patch: false, _ => { }, null, Ct);
        var pools = _services.GetRequiredService<StoragePools>();
        await pools.DeleteAsync(pools.Get(_pool), Ct);
        var layer = _services.GetRequiredService<InstanceLayer>();
        await layer.StopAsync();
        await _services.GetRequiredService<StoragePools>().UnmountAllAsync();
        await layer.CloseAsync();
        await _services.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    /// <summary>A unified VM image: busybox's metadata and a (tiny, empty) qcow2 rootfs.img.</summary>
    private async Task<string> ImportVmImageAsync()
    {
        var tarball = Path.Combine(_dir, "vm.tar.gz");
        await using (var output = File.Create(tarball))
        await using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        await using (var writer = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            await using (var meta = File.OpenRead(ImageFixture.BusyboxMeta))
            await using (var metaGzip = new GZipStream(meta, CompressionMode.Decompress))
            await using (var reader = new TarReader(metaGzip))
            {
                while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
                {
                    await writer.WriteEntryAsync(entry);
                }
            }
            var disk = Path.Combine(_dir, "disk.qcow2");
            var made = await ProcessRunner.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", disk, "1M"]);
            Assert.True(made.ExitCode == 0, made.ToString());
            await using var data = File.OpenRead(disk);
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "rootfs.img") { DataStream = data });
        }
        await using var upload = Images.BeginUpload(ImageStore.DefaultMaxUploadSize);
        await using (var s = File.OpenRead(tarball))
        {
            await upload.AddPartAsync("vm.tar.gz", s, Ct);
        }
        var image = await Images.ImportAsync(upload, new ImportOptions(), Ct);
        Assert.Equal("virtual-machine", image.Type);
        return image.Fingerprint;
    }

    private InstancesPost Post(string name, Dictionary<string, string>? config = null) => new()
    {
        Name = name,
        Type = "virtual-machine",
        Source = new InstanceSource { Type = "image", Fingerprint = _fingerprint },
        Config = config,
    };

    private string[] Calls() => _driver.Calls.ToArray();

    [Fact]
    public async Task The_manager_drives_a_second_driver_type_through_the_registry()
    {
        var manager = Manager;
        var source = Repo.TempDir("hlx-vm-src-");
        try
        {
            // Create (with a host-path disk, whose setup the driver must see at start).
            var post = Post("vm1");
            post.Devices = new() { ["data"] = new() { ["type"] = "disk", ["source"] = source, ["path"] = "/mnt/data", ["readonly"] = "true" } };
            var (record, fp) = await manager.PrepareCreateAsync(post, Ct);
            Assert.Equal(InstanceType.VirtualMachine, record.Type);
            await manager.CreateAsync(record, fp, Ct);
            Assert.Contains("prepare vm1", Calls());
            Assert.Equal(InstanceType.VirtualMachine, (await manager.LoadAsync("vm1", Ct)).Type);

            // Start: the devices' setup reached the driver as a mount.
            await manager.ChangeStateAsync("vm1", new InstanceStatePut { Action = "start", Timeout = 5 }, Ct);
            Assert.Contains("start vm1", Calls());
            var mount = Assert.Single(_driver.Started!.Mounts);
            Assert.Equal((source, "/mnt/data", true), (mount.Source, mount.Target, mount.ReadOnly));
            Assert.Equal(InstanceStatus.Running, (await manager.StateAsync(await manager.LoadAsync("vm1", Ct), Ct)).Status);

            // What the driver did not declare is a 400 naming the feature.
            var loaded = await manager.LoadAsync("vm1", Ct);
            var refused = await Assert.ThrowsAsync<BadRequestException>(() => manager.PrepareExecAsync(loaded, interactive: true, Ct));
            Assert.Contains("interactive exec", refused.Message);
            refused = await Assert.ThrowsAsync<BadRequestException>(() => manager.PrepareConsoleAsync(loaded, Ct));
            Assert.Contains("console", refused.Message);
            refused = await Assert.ThrowsAsync<BadRequestException>(() => manager.GetFileAsync(loaded, "/etc/hostname", Ct));
            Assert.Contains("file access", refused.Message);

            // Snapshot of the running instance: the hooks wrap the storage snapshot.
            Assert.Equal("snap0", await manager.SnapshotAsync("vm1", null, null, Ct));
            var calls = Calls().ToList();
            Assert.True(calls.IndexOf("before-snapshot vm1") >= 0 && calls.IndexOf("after-snapshot vm1") > calls.IndexOf("before-snapshot vm1"), string.Join(", ", calls));
            Assert.Single(await manager.ListSnapshotsAsync("vm1", Ct));

            // Stop: the driver stops and cleans up.
            await manager.ChangeStateAsync("vm1", new InstanceStatePut { Action = "stop", Timeout = 5 }, Ct);
            Assert.Contains("stop vm1", Calls());
            Assert.Contains("cleanup vm1", Calls());

            // Rename: the driver is told (a domain name or NVRAM path would follow the instance).
            await manager.RenameAsync("vm1", "vm2", Ct);
            Assert.Contains("rename vm1 vm2", Calls());
            await Assert.ThrowsAsync<NotFoundException>(() => manager.LoadAsync("vm1", Ct));
            Assert.Single(await manager.ListSnapshotsAsync("vm2", Ct));

            // Delete: snapshots, volume and record go; the driver forgets the instance.
            await manager.DeleteAsync("vm2", Ct);
            Assert.Contains("forget vm2", Calls());
            await Assert.ThrowsAsync<NotFoundException>(() => manager.LoadAsync("vm2", Ct));
        }
        finally
        {
            Directory.Delete(source, true);
        }
    }

    [Fact]
    public async Task A_running_instance_whose_driver_has_no_metrics_is_left_out_of_the_scrape()
    {
        var manager = Manager;
        var (record, fp) = await manager.PrepareCreateAsync(Post("vm-metrics"), Ct);
        await manager.CreateAsync(record, fp, Ct);
        try
        {
            await manager.ChangeStateAsync("vm-metrics", new InstanceStatePut { Action = "start", Timeout = 5 }, Ct);
            Assert.Equal(InstanceStatus.Running, (await manager.StateAsync(await manager.LoadAsync("vm-metrics", Ct), Ct)).Status);
            // The fake VM driver (like the QEMU one) reports no metrics: /1.0/metrics leaves it out instead of failing.
            var scrape = await manager.MetricsAsync(Ct);
            Assert.DoesNotContain(scrape, m => m.Name == "vm-metrics");
            var text = new MetricsText.Builder();
            foreach (var (name, type, metrics) in scrape)
            {
                text.AddInstance(name, "default", type.ToApi(), metrics);
            }
            Assert.EndsWith("# EOF\n", text.ToString());
            await manager.ChangeStateAsync("vm-metrics", new InstanceStatePut { Action = "stop", Timeout = 5 }, Ct);
        }
        finally
        {
            await manager.DeleteAsync("vm-metrics", Ct);
        }
    }

    [Fact]
    public async Task Container_only_keys_and_devices_of_the_other_type_are_a_400_naming_the_key()
    {
        var manager = Manager;
        var e = await Assert.ThrowsAsync<BadRequestException>(() => manager.PrepareCreateAsync(Post("vm-nest", new() { ["security.nesting"] = "true" }), Ct));
        Assert.Equal(400, e.StatusCode);
        Assert.Contains("\"security.nesting\"", e.Message);
        Assert.Contains("containers only", e.Message);

        var shifted = Post("vm-shift");
        shifted.Devices = new() { ["data"] = new() { ["type"] = "disk", ["source"] = "/tmp", ["path"] = "/mnt", ["shift"] = "true" } };
        e = await Assert.ThrowsAsync<BadRequestException>(() => manager.PrepareCreateAsync(shifted, Ct));
        Assert.Contains("\"shift\"", e.Message);

        // A VM-only key is fine on the VM, and a container-only key refused on update too.
        var (record, fp) = await manager.PrepareCreateAsync(Post("vm-keys", new() { ["security.secureboot"] = "false" }), Ct);
        await manager.CreateAsync(record, fp, Ct);
        e = await Assert.ThrowsAsync<BadRequestException>(() =>
            manager.UpdateAsync("vm-keys", new InstancePut { Config = new() { ["limits.processes"] = "100" } }, patch: true, _ => { }, Ct));
        Assert.Contains("\"limits.processes\"", e.Message);
        await manager.DeleteAsync("vm-keys", Ct);
    }
}
