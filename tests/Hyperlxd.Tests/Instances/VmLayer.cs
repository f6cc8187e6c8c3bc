using Hyperlxd.Api;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Instances;
using Hyperlxd.Images;
using Hyperlxd.Instances;
using Hyperlxd.Storage;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// The instance layer in process (real state store, image store and pools) with <see cref="FakeVmDriver"/>
/// as the VM driver: for tests about what the layer and the storage tier do with VMs, not about QEMU.
/// The default profile's root disk is on a dir pool; <see cref="CreatePoolAsync"/> adds others.
/// </summary>
internal sealed class VmLayer(string connectionString)
{
    public string Dir { get; } = Repo.TempDir("hlx-vmlayer-");
    public FakeVmDriver Driver { get; } = new();
    public string DirPool { get; } = "d" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<string> _pools = new();
    private readonly List<string> _images = new();
    private ServiceProvider _services = null!;

    public static CancellationToken Ct => CancellationToken.None;

    public InstanceManager Manager => _services.GetRequiredService<InstanceManager>();
    public ImageStore Images => _services.GetRequiredService<ImageStore>();
    public StoragePools Pools => _services.GetRequiredService<StoragePools>();

    public async Task StartAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        await VmTestImage.EnsureBuiltAsync();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<EventHub>();
        services.AddSingleton<IInstanceDriver>(Driver);
        services.AddSingleton<InstanceDrivers>();
        services.AddInstanceLayer(new InstanceLayerOptions(Dir, connectionString, "hyperlxd-db"));
        _services = services.BuildServiceProvider();
        var layer = _services.GetRequiredService<InstanceLayer>();
        await layer.OpenAsync(Ct);
        await layer.StartAsync(Ct);
        await CreatePoolAsync(DirPool, "dir");
        await _services.GetRequiredService<ProfileService>().UpdateAsync("default", new ProfilePut
        {
            Devices = new() { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = DirPool } },
        }, patch: true, _ => { }, null, Ct);
    }

    public async Task CreatePoolAsync(string name, string driver, Dictionary<string, string>? config = null)
    {
        await Pools.CreateAsync(name, driver, "", config ?? new(), Ct);
        _pools.Add(name);
    }

    /// <summary>Imports image files (one: unified, two: split) and returns the fingerprint; deleted at dispose.</summary>
    public async Task<string> ImportAsync(params string[] files)
    {
        await using var upload = Images.BeginUpload(ImageStore.DefaultMaxUploadSize);
        foreach (var f in files)
        {
            await using var s = File.OpenRead(f);
            await upload.AddPartAsync(f.EndsWith(".img", StringComparison.Ordinal) ? "rootfs.img" : Path.GetFileName(f), s, Ct);
        }
        var fp = (await Images.ImportAsync(upload, new ImportOptions(), Ct)).Fingerprint;
        _images.Add(fp);
        return fp;
    }

    public static InstancesPost Post(string name, string type, string fingerprint, Dictionary<string, string>? config = null) => new()
    {
        Name = name,
        Type = type,
        Source = new InstanceSource { Type = "image", Fingerprint = fingerprint },
        Config = config,
    };

    public async Task CreateAsync(InstancesPost post)
    {
        var (record, fp) = await Manager.PrepareCreateAsync(post, Ct);
        await Manager.CreateAsync(record, fp, Ct);
    }

    /// <summary>Deletes what the tests left (instances, images, pools) and stops the layer.</summary>
    public async Task StopAsync()
    {
        foreach (var i in await Manager.ListAsync(Ct))
        {
            await Manager.DeleteAsync(i.Name, Ct);
        }
        foreach (var fp in _images)
        {
            if ((await Images.ListAsync(Ct)).Any(i => i.Fingerprint == fp))
            {
                await Images.DeleteAsync(fp, Ct);
            }
        }
        await _services.GetRequiredService<ProfileService>().UpdateAsync("default", new ProfilePut(), patch: false, _ => { }, null, Ct);
        foreach (var name in _pools)
        {
            await Pools.DeleteAsync(Pools.Get(name), Ct);
        }
        var layer = _services.GetRequiredService<InstanceLayer>();
        await layer.StopAsync();
        await Pools.UnmountAllAsync();
        await layer.CloseAsync();
        await _services.DisposeAsync();
        Directory.Delete(Dir, true);
    }
}
