using System.Text;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Vms;

namespace Hyperlxd.Tests.Vms;

/// <summary>
/// libvirt's embedded driver allows one root per process: every test on real QEMU shares this one
/// (a temp state directory), one test at a time. Disposing destroys and undefines every VM the tests
/// made and removes the directory.
/// </summary>
[CollectionDefinition("vms", DisableParallelization = true)]
public sealed class VmsCollection : ICollectionFixture<VmHost>;

public sealed class VmHost : IAsyncLifetime
{
    private readonly List<InstanceSpec> _made = [];

    public string Dir { get; } = Repo.TempDir("hlx-vm-");

    /// <summary>Every instance the tests made (known to reconcile).</summary>
    public IReadOnlyList<InstanceSpec> Made => _made;

    public VmDriver Driver { get; private set; } = null!;

    /// <summary>The VM test image's boot files: <c>dotnet cake --target=Images</c> builds them (HYPERLXD_VM_BOOT_DIR overrides).</summary>
    public static string BootDir =>
        Environment.GetEnvironmentVariable("HYPERLXD_VM_BOOT_DIR") is { Length: > 0 } d ? d : Path.Combine(Repo.Root, "artifacts", "images", "vm");

    public Task InitializeAsync()
    {
        Driver = NewDriver();
        Assert.True(Driver.Info.Available, Driver.Info.Reason);
        return Task.CompletedTask;
    }

    /// <summary>TCG forced: the probe is the accelerator tests' business, and KVM cannot boot guests on these machines.</summary>
    public VmDriver NewDriver() => new(new VmDriverOptions { StateDir = Dir, Accelerator = AcceleratorMode.Tcg, AgentTimeout = TimeSpan.FromSeconds(3) });

    /// <summary>As after a daemon restart: the driver is dropped (its connection closed) and a new one opens the same root.</summary>
    public void Reopen()
    {
        Driver.Dispose();
        Driver = NewDriver();
    }

    /// <summary>A VM instance on a fresh qcow2 disk with the test image's kernel and initramfs; <paramref name="cmdline"/> replaces the image's.</summary>
    public async Task<InstanceSpec> NewInstanceAsync(string? cmdline = null, Dictionary<string, string>? config = null)
    {
        var name = "t" + Guid.NewGuid().ToString("N")[..8];
        var root = Path.Combine(Dir, "pool", name);
        Directory.CreateDirectory(Path.Combine(root, "boot"));
        foreach (var file in new[] { "vmlinuz", "initrd.img", "cmdline" })
        {
            var source = Path.Combine(BootDir, file);
            Assert.True(File.Exists(source), $"{source} is missing: run `dotnet cake --target=Images`");
            File.Copy(source, Path.Combine(root, "boot", file));
        }
        if (cmdline is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(root, "boot", "cmdline"), cmdline + "\n");
        }
        await HostCommand.RunAsync("qemu-img", ["create", "-q", "-f", "qcow2", Path.Combine(root, "root.img"), "64M"]);
        var spec = new InstanceSpec(name, InstanceType.VirtualMachine, "x86_64",
            config ?? new Dictionary<string, string> { ["limits.memory"] = "256MiB" },
            new Dictionary<string, Dictionary<string, string>>(), root, Path.Combine(Dir, "instances", name));
        _made.Add(spec);
        return spec;
    }

    /// <summary>Runs a command to its end through the driver's exec session: (exit code, stdout, stderr).</summary>
    public async Task<(int Code, string Out, string Err)> ExecAsync(InstanceSpec spec, string[] command, string? stdin = null)
    {
        await using var exec = await Driver.ExecAsync(spec, new ExecOptions(command, new Dictionary<string, string>(), false, 0, 0, 0, 0, ""), default);
        if (stdin is not null)
        {
            await exec.Stdin!.WriteAsync(Encoding.UTF8.GetBytes(stdin));
        }
        exec.Stdin!.Close();
        using var outReader = new StreamReader(exec.Stdout!);
        using var errReader = new StreamReader(exec.Stderr!);
        var stdout = outReader.ReadToEndAsync();
        var stderr = errReader.ReadToEndAsync();
        var code = await exec.WaitAsync(default);
        return (code, await stdout, await stderr);
    }

    /// <summary>Until the guest agent answers (the boot takes seconds under TCG); fails after two minutes.</summary>
    public async Task WaitForAgentAsync(InstanceSpec spec)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            try
            {
                await ExecAsync(spec, ["/bin/true"]);
                return;
            }
            catch (TransientException) when (!limit.IsCancellationRequested)
            {
            }
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var spec in _made)
        {
            try
            {
                await Driver.StopAsync(spec, true, TimeSpan.Zero, default);
                Driver.Forget(spec);
            }
            catch (HyperlxdException)
            {
            }
        }
        Driver.Dispose();
        Directory.Delete(Dir, true);
    }
}
