using Hyperlxd.Api;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Images;
using Hyperlxd.Instances;
using Hyperlxd.Storage;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.State;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// The instance layer without HTTP: built from DI as the daemon builds it (real PostgreSQL, a dir
/// pool, the busybox image), driving a stub driver through create, list and delete.
/// </summary>
public sealed class InstanceManagerTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private readonly string _dir = Repo.TempDir("hlx-instances-");
    private ServiceProvider _services = null!;

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<EventHub>();
        services.AddSingleton<IInstanceDriver, StubDriver>();
        services.AddSingleton<InstanceDrivers>();
        services.AddInstanceLayer(new InstanceLayerOptions(_dir, pg.Server.ConnectionString, "hyperlxd-db"));
        _services = services.BuildServiceProvider();
        var layer = _services.GetRequiredService<InstanceLayer>();
        await layer.OpenAsync(CancellationToken.None);
        await layer.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        var layer = _services.GetRequiredService<InstanceLayer>();
        await layer.StopAsync();
        await _services.GetRequiredService<StoragePools>().UnmountAllAsync();
        await layer.CloseAsync();
        await _services.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    [Fact]
    public async Task Manager_from_DI_creates_lists_and_deletes_an_instance()
    {
        var ct = CancellationToken.None;
        var pool = await _services.GetRequiredService<StoragePools>().CreateAsync("p" + Guid.NewGuid().ToString("N")[..8], "dir", "", new(), ct);
        var profiles = _services.GetRequiredService<ProfileService>();
        await profiles.UpdateAsync("default", new ProfilePut
        {
            Devices = new() { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = pool.Name } },
        }, patch: true, _ => { }, null, ct);
        var images = _services.GetRequiredService<ImageStore>();
        string fingerprint;
        await using (var upload = images.BeginUpload(ImageStore.DefaultMaxUploadSize))
        {
            await using var s = File.OpenRead(ImageFixture.Busybox);
            await upload.AddPartAsync(Path.GetFileName(ImageFixture.Busybox), s, ct);
            fingerprint = (await images.ImportAsync(upload, new ImportOptions(), ct)).Fingerprint;
        }

        var manager = _services.GetRequiredService<InstanceManager>();
        var name = "c" + Guid.NewGuid().ToString("N")[..8];
        var (record, fp) = await manager.PrepareCreateAsync(new InstancesPost
        {
            Name = name,
            Source = new InstanceSource { Type = "image", Fingerprint = fingerprint },
        }, ct);
        Assert.Equal(InstanceType.Container, record.Type);
        await manager.CreateAsync(record, fp, ct);

        var listed = await manager.ListAsync(ct);
        var created = Assert.Single(listed, r => r.Name == name);
        Assert.Equal(InstanceType.Container, created.Type);
        var expanded = await manager.LoadAsync(name, ct);
        Assert.Equal(pool.Name, expanded.Devices["root"]["pool"]);
        Assert.True(Directory.Exists(pool.InstanceVolumePath(name, InstanceType.Container)));

        await manager.DeleteAsync(name, ct);
        Assert.DoesNotContain(await manager.ListAsync(ct), r => r.Name == name);
        Assert.Contains(name, StubDriver.Forgotten);

        await images.DeleteAsync(fingerprint, ct);
        await profiles.UpdateAsync("default", new ProfilePut(), patch: false, _ => { }, null, ct);
        await _services.GetRequiredService<StoragePools>().DeleteAsync(pool, ct);
    }

    /// <summary>A driver that runs nothing: every instance is stopped.</summary>
    private sealed class StubDriver : IInstanceDriver
    {
        public static readonly System.Collections.Concurrent.ConcurrentBag<string> Forgotten = new();

        public InstanceType Type => InstanceType.Container;
        public DriverInfo Info { get; } = new("stub", "1", true, null);
        public DriverFeatures Features => DriverFeatures.None;

        public Task<IReadOnlyDictionary<string, string>> PrepareAsync(InstanceSpec spec, CancellationToken ct) =>
            Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());

        public Task StartAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
        public Task StopAsync(InstanceSpec spec, bool force, TimeSpan timeout, CancellationToken ct) => Task.CompletedTask;
        public Task FreezeAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
        public Task UnfreezeAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
        public Task CleanupAsync(InstanceSpec spec, CancellationToken ct) => Task.CompletedTask;
        public void Forget(InstanceSpec spec) => Forgotten.Add(spec.Name);
        public Task RenameAsync(InstanceSpec spec, string newName, CancellationToken ct) => throw new NotSupportedException();
        public Task ReconcileAsync(IReadOnlyCollection<InstanceSpec> known, CancellationToken ct) => Task.CompletedTask;
        public Task<RuntimeState> GetStateAsync(InstanceSpec spec, CancellationToken ct) => Task.FromResult(RuntimeState.Stopped());
        public Task ApplyConfigAsync(InstanceSpec spec, IReadOnlyDictionary<string, string> changed, CancellationToken ct) => Task.CompletedTask;
        public Task<IExecSession> ExecAsync(InstanceSpec spec, ExecOptions options, CancellationToken ct) => throw new NotSupportedException();
        public Task<Stream> ConsoleAsync(InstanceSpec spec, CancellationToken ct) => throw new NotSupportedException();
        public Task<byte[]> ConsoleLogAsync(InstanceSpec spec, CancellationToken ct) => Task.FromResult(Array.Empty<byte>());
        public Task<InstanceFile> GetFileAsync(InstanceSpec spec, string path, CancellationToken ct) => throw new NotSupportedException();
        public Task PutFileAsync(InstanceSpec spec, string path, FileWrite write, Stream content, CancellationToken ct) => throw new NotSupportedException();
        public Task DeleteFileAsync(InstanceSpec spec, string path, CancellationToken ct) => throw new NotSupportedException();
    }
}
