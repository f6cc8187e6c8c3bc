using System.Collections.Concurrent;
using System.Globalization;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    /// <summary>Waiters for a domain's end, woken by lifecycle events (a poll covers a missed one).</summary>
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _stopWaiters = new(StringComparer.Ordinal);

    private static readonly TimeSpan StatePoll = TimeSpan.FromMilliseconds(500);

    /// <summary>A VM's root volume must hold its disk; nothing is shifted or planned.</summary>
    public Task<IReadOnlyDictionary<string, string>> PrepareAsync(InstanceSpec spec, CancellationToken ct) =>
        File.Exists(DiskPath(spec))
            ? Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>())
            : throw new BadRequestException($"Failed preparing instance \"{spec.DisplayName}\": its disk {DiskPath(spec)} does not exist");

    /// <summary>
    /// Defines the domain from the spec (a redefinition keeps its UUID), starts it paused, writes the
    /// instance log, and lets the CPUs run. A failure leaves no running domain, and no definition or NVRAM
    /// that this start created.
    /// </summary>
    public async Task StartAsync(InstanceSpec spec, CancellationToken ct)
    {
        var resources = VmResources.From(spec.Config);
        if (!File.Exists(DiskPath(spec)))
        {
            throw new BadRequestException($"Failed starting instance \"{spec.DisplayName}\": its disk {DiskPath(spec)} does not exist");
        }
        var accelerator = Accelerator!;
        Directory.CreateDirectory(spec.StateDir);
        await using var revert = new Reverter();
        string? uuid = null;
        using (var existing = Lookup(spec))
        {
            if (existing is not null)
            {
                if (Active(existing.GetState().State))
                {
                    throw new BadRequestException("The instance is already running");
                }
                uuid = existing.Uuid.ToString();
            }
        }
        var boot = Boot(spec, resources);
        if (boot is UefiBoot && !File.Exists(NvramPath(spec)))
        {
            revert.Add(() => File.Delete(NvramPath(spec))); // libvirt makes it from the template at the first start
        }
        var xml = DomainXml.Build(new DomainSpec(DomainName(spec.Name), uuid, accelerator.Kvm, resources, DiskPath(spec), boot,
            ConsoleLogPath(spec), spec.Nics, Description: $"hyperlxd instance {spec.DisplayName} (project {ProjectKeys.InstanceProject(spec.Name)})"));
        using var domain = await Blocking(() => Connection.DefineXml(xml));
        if (uuid is null)
        {
            revert.Add(() => Undefine(domain, DomainUndefineFlags.Nvram));
        }
        await WriteInstanceLogAsync(spec, accelerator, resources, boot);
        _stopWaiters.TryRemove(domain.Name, out _);
        await Blocking(() => domain.Create(DomainCreateFlags.Paused));
        revert.Add(() => Blocking(() => Destroy(domain)));
        await Blocking(domain.Resume);
        revert.Success();
    }

    /// <summary>The image's own kernel when its root volume carries one, else UEFI (secure boot unless <c>security.secureboot=false</c>).</summary>
    private VmBoot Boot(InstanceSpec spec, VmResources resources)
    {
        var kernel = Path.Combine(spec.RootPath, "boot", "vmlinuz");
        if (File.Exists(kernel))
        {
            var initrd = Path.Combine(spec.RootPath, "boot", "initrd.img");
            var cmdline = Path.Combine(spec.RootPath, "boot", "cmdline");
            return new KernelBoot(kernel, File.Exists(initrd) ? initrd : null,
                DomainXml.KernelCmdline(File.Exists(cmdline) ? File.ReadAllText(cmdline) : null, spec.DisplayName)); // the guest's name, not the project's storage key
        }
        var (code, vars) = resources.SecureBoot ? ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd") : ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd");
        var codePath = Path.Combine(_options.FirmwareDir, code);
        if (!File.Exists(codePath))
        {
            throw new BadRequestException($"Failed starting instance \"{spec.DisplayName}\": its image has no kernel (boot/vmlinuz) and UEFI firmware {codePath} is missing (install ovmf)");
        }
        return new UefiBoot(codePath, Path.Combine(_options.FirmwareDir, vars), NvramPath(spec), resources.SecureBoot);
    }

    private async Task WriteInstanceLogAsync(InstanceSpec spec, AcceleratorChoice accelerator, VmResources resources, VmBoot boot)
    {
        var how = boot is KernelBoot k ? $"kernel {k.Kernel} ({k.Cmdline})" : $"UEFI{(resources.SecureBoot ? " with secure boot" : "")}";
        var text = string.Create(CultureInfo.InvariantCulture,
            $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} starting domain {DomainName(spec.Name)} on {Uri}\n"
            + $"accelerator: {accelerator.Name} ({accelerator.Reason})\n"
            + $"vcpus: {resources.Vcpus}{(resources.CpuSet is { } set ? $" pinned to {set}" : "")}, memory: {resources.MemoryKiB / 1024}MiB, boot: {how}\n");
        await File.WriteAllTextAsync(InstanceLogPath(spec), text, CancellationToken.None);
    }

    /// <summary>ACPI power button, then destroy after <paramref name="timeout"/>; <paramref name="force"/> destroys at once.</summary>
    public async Task StopAsync(InstanceSpec spec, bool force, TimeSpan timeout, CancellationToken ct)
    {
        using var domain = Lookup(spec);
        if (domain is null || !Active(domain.GetState().State))
        {
            return;
        }
        if (!force && domain.GetState().State != DomainState.Paused)
        {
            try
            {
                await Blocking(domain.Shutdown);
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
                limit.CancelAfter(timeout);
                await WaitStoppedAsync(domain.Name, limit.Token);
                return;
            }
            catch (LibvirtException e) when (e.IsNoDomain || e.IsOperationInvalid)
            {
                return; // it stopped meanwhile
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // did not power off in time: destroyed below
            }
        }
        await Blocking(() => Destroy(domain));
    }

    /// <summary>virDomainDestroy; a domain that stopped meanwhile (42, 55) is done.</summary>
    private static void Destroy(LibvirtDomain domain)
    {
        try
        {
            domain.Destroy();
        }
        catch (LibvirtException e) when (e.IsNoDomain || e.IsOperationInvalid)
        {
        }
    }

    private static void Undefine(LibvirtDomain domain, DomainUndefineFlags flags)
    {
        try
        {
            domain.Undefine(flags | DomainUndefineFlags.ManagedSave | DomainUndefineFlags.SnapshotsMetadata | DomainUndefineFlags.CheckpointsMetadata);
        }
        catch (LibvirtException e) when (e.IsNoDomain)
        {
        }
    }

    /// <summary>Completes when the domain runs no more: its lifecycle event, or the poll that covers a missed one.</summary>
    private async Task WaitStoppedAsync(string domain, CancellationToken ct)
    {
        while (true)
        {
            var waiter = _stopWaiters.GetOrAdd(domain, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            using (var d = Connection.LookupDomain(domain))
            {
                if (d is null || !Active(d.GetState().State))
                {
                    return;
                }
            }
            await Task.WhenAny(waiter.Task, Task.Delay(StatePoll, ct));
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>From the event loop thread: wake whoever waits for this domain (they re-check its state).</summary>
    private void Wake(string domain)
    {
        if (_stopWaiters.TryRemove(domain, out var waiter))
        {
            waiter.TrySetResult();
        }
    }

    /// <summary>The domain's end, with why (libvirt's shutoff reason: shutdown, destroyed, crashed, ...).</summary>
    public async Task<ExitInfo?> WaitExitAsync(InstanceSpec spec, CancellationToken ct)
    {
        var name = DomainName(spec.Name);
        using (var domain = Lookup(spec))
        {
            if (domain is null || !Active(domain.GetState().State))
            {
                return null;
            }
        }
        await WaitStoppedAsync(name, ct);
        using var after = Connection.LookupDomain(name);
        var reason = after?.GetState() is { State: DomainState.Shutoff or DomainState.Crashed } s
            ? s.State == DomainState.Crashed ? "crashed" : ShutoffReason(s.Reason)
            : "stopped";
        return new ExitInfo(0, 0, reason, DateTimeOffset.UtcNow);
    }

    /// <summary>virDomainShutoffReason.</summary>
    private static string ShutoffReason(int reason) => reason switch
    {
        1 => "shutdown",
        2 => "destroyed",
        3 => "crashed",
        6 => "failed",
        _ => "stopped",
    };

    public Task FreezeAsync(InstanceSpec spec, CancellationToken ct) => SetPausedAsync(spec, true);

    public Task UnfreezeAsync(InstanceSpec spec, CancellationToken ct) => SetPausedAsync(spec, false);

    private async Task SetPausedAsync(InstanceSpec spec, bool paused)
    {
        using var domain = Lookup(spec);
        if (domain is null || !Active(domain.GetState().State))
        {
            throw new BadRequestException("The instance isn't running");
        }
        await Blocking(paused ? domain.Suspend : domain.Resume);
    }

    /// <summary>
    /// Nothing outlives a stopped VM but its definition (kept for the next start; it is rebuilt from
    /// the spec anyway) and libvirt's own runtime files, which libvirt removes. Safe to repeat.
    /// </summary>
    public Task CleanupAsync(InstanceSpec spec, CancellationToken ct) => Task.CompletedTask;

    /// <summary>A deleted instance: its domain goes, with its NVRAM (the state directory goes with the instance).</summary>
    public void Forget(InstanceSpec spec)
    {
        if (!Info.Available)
        {
            return;
        }
        using var domain = Lookup(spec);
        if (domain is not null)
        {
            Destroy(domain);
            Undefine(domain, DomainUndefineFlags.Nvram);
        }
        _stopWaiters.TryRemove(DomainName(spec.Name), out _);
    }

    /// <summary>
    /// The definition is derived from the spec at every start: the old name's is dropped (its NVRAM kept:
    /// it lives in the state directory the manager has moved) and the next start defines the new one.
    /// </summary>
    public Task RenameAsync(InstanceSpec spec, string newName, CancellationToken ct)
    {
        using var domain = Lookup(spec);
        if (domain is not null)
        {
            if (Active(domain.GetState().State))
            {
                throw new BadRequestException("Renaming a running virtual machine is not supported: stop it first");
            }
            Undefine(domain, DomainUndefineFlags.KeepNvram);
        }
        return Task.CompletedTask;
    }
}
