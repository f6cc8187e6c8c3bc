using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.State;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// The instance layer's VM rules, with the real image store and pools: an image of the other type is
/// a 400 naming both types (nothing created), memory beyond the host's is a 400 naming limits.memory,
/// and the VM-only keys are refused on containers.
/// </summary>
public sealed class VmRulesTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private VmLayer _layer = null!;
    private string _vmImage = "";
    private string _containerImage = "";

    private static CancellationToken Ct => VmLayer.Ct;

    public async Task InitializeAsync()
    {
        _layer = new VmLayer(pg.Server.ConnectionString);
        await _layer.StartAsync();
        _vmImage = await _layer.ImportAsync(VmTestImage.Unified);
        _containerImage = await _layer.ImportAsync(ImageFixture.Busybox);
    }

    public async Task DisposeAsync() => await _layer.StopAsync();

    [Fact]
    public async Task A_container_image_with_vm_and_a_vm_image_for_a_container_are_a_400_naming_the_types()
    {
        var e = await Assert.ThrowsAsync<BadRequestException>(() =>
            _layer.Manager.PrepareCreateAsync(VmLayer.Post("vr-vm", "virtual-machine", _containerImage), Ct));
        Assert.Equal(400, e.StatusCode);
        Assert.Contains("is a container image, not a virtual-machine one", e.Message);

        e = await Assert.ThrowsAsync<BadRequestException>(() =>
            _layer.Manager.PrepareCreateAsync(VmLayer.Post("vr-ct", "container", _vmImage), Ct));
        Assert.Contains("is a virtual-machine image, not a container one", e.Message);

        Assert.Empty(await _layer.Manager.ListAsync(Ct));
        Assert.Empty(_layer.Driver.Calls);
    }

    [Fact]
    public async Task Memory_beyond_the_hosts_is_a_400_naming_limits_memory_on_create_and_update()
    {
        var host = Validators.HostMemoryBytes();
        var tooMuch = $"{(host >> 30) + 2}GiB";
        var e = await Assert.ThrowsAsync<BadRequestException>(() =>
            _layer.Manager.PrepareCreateAsync(VmLayer.Post("vr-mem", "virtual-machine", _vmImage, new() { ["limits.memory"] = tooMuch }), Ct));
        Assert.Contains("\"limits.memory\"", e.Message);
        Assert.Contains("more than the host's memory", e.Message);

        await _layer.CreateAsync(VmLayer.Post("vr-mem", "virtual-machine", _vmImage, new() { ["limits.memory"] = "256MiB" }));
        e = await Assert.ThrowsAsync<BadRequestException>(() =>
            _layer.Manager.UpdateAsync("vr-mem", new InstancePut { Config = new() { ["limits.memory"] = tooMuch } }, patch: true, _ => { }, Ct));
        Assert.Contains("\"limits.memory\"", e.Message);
        Assert.Equal("256MiB", (await _layer.Manager.LoadAsync("vr-mem", Ct)).Config["limits.memory"]);
        // A percentage is of the host's memory, so never beyond it.
        await _layer.Manager.UpdateAsync("vr-mem", new InstancePut { Config = new() { ["limits.memory"] = "50%" } }, patch: true, _ => { }, Ct);
        await _layer.Manager.DeleteAsync("vr-mem", Ct);
    }

    [Fact]
    public void Vm_only_keys_are_checked_and_refused_on_containers()
    {
        foreach (var key in new[] { "security.secureboot", "security.csm", "agent.nic_config", "migration.stateful" })
        {
            Assert.Equal(InstanceType.VirtualMachine, InstanceConfig.ScopeOf(key));
            var e = Assert.Throws<BadRequestException>(() => InstanceConfig.Validate(new Dictionary<string, string> { [key] = "false" }, InstanceType.Container));
            Assert.Contains($"\"{key}\" applies to virtual machines only", e.Message);
            e = Assert.Throws<BadRequestException>(() => InstanceConfig.Validate(new Dictionary<string, string> { [key] = "maybe" }, InstanceType.VirtualMachine));
            Assert.Contains($"\"{key}\"", e.Message);
        }
        var csm = Assert.Throws<BadRequestException>(() =>
            InstanceConfig.Validate(new Dictionary<string, string> { ["security.csm"] = "true" }, InstanceType.VirtualMachine));
        Assert.Contains("security.secureboot", csm.Message);
        InstanceConfig.Validate(new Dictionary<string, string> { ["security.csm"] = "true", ["security.secureboot"] = "false" }, InstanceType.VirtualMachine);
        InstanceConfig.ValidateVm(new Dictionary<string, string> { ["limits.memory"] = "2GiB" }, () => 4L << 30);
        Assert.Throws<BadRequestException>(() => InstanceConfig.ValidateVm(new Dictionary<string, string> { ["limits.memory"] = "5GiB" }, () => 4L << 30));
    }
}
