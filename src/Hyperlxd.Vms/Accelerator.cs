using System.Globalization;

namespace Hyperlxd.Vms;

/// <summary>The server key <c>vms.accelerator</c>: probe (auto) or force one.</summary>
public enum AcceleratorMode
{
    Auto,
    Kvm,
    Tcg,
}

/// <summary>What VMs run on, and why (shown in <c>GET /1.0</c> and each VM's log).</summary>
public sealed record AcceleratorChoice(bool Kvm, string Reason)
{
    public string Name => Kvm ? "kvm" : "tcg";
}

/// <summary>
/// KVM only where KVM really runs a guest: <c>/dev/kvm</c> existing is not enough (a PVM-nested host
/// has it and hangs every guest). The probe boots a 512-byte boot sector under <c>-accel kvm</c> that
/// leaves QEMU at once through <c>isa-debug-exit</c> (exit status 67); a guest that does not get there
/// within <see cref="ProbeTimeout"/> means TCG. The verdict is cached per kernel version (a hung probe
/// costs its whole timeout).
/// </summary>
internal static class Accelerator
{
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>isa-debug-exit's status for the value 0x21 the boot sector writes: (0x21 &lt;&lt; 1) | 1.</summary>
    private const int ProbeExit = 67;

    public static AcceleratorMode Parse(string? value) => value?.Trim() switch
    {
        null or "" or "auto" => AcceleratorMode.Auto,
        "kvm" => AcceleratorMode.Kvm,
        "tcg" => AcceleratorMode.Tcg,
        _ => throw new BadRequestException($"Invalid value for server config key \"vms.accelerator\": \"{value}\" must be one of: auto, kvm, tcg"),
    };

    public static async Task<AcceleratorChoice> DecideAsync(AcceleratorMode mode, string qemu, string cacheDir, CancellationToken ct)
    {
        switch (mode)
        {
            case AcceleratorMode.Kvm:
                return new AcceleratorChoice(true, "forced by vms.accelerator");
            case AcceleratorMode.Tcg:
                return new AcceleratorChoice(false, "forced by vms.accelerator");
        }
        if (!File.Exists("/dev/kvm"))
        {
            return new AcceleratorChoice(false, "/dev/kvm does not exist");
        }
        var kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var cache = Path.Combine(cacheDir, "accelerator");
        if (ReadCache(cache, kernel) is { } cached)
        {
            return cached;
        }
        var choice = await ProbeAsync(qemu, cacheDir, ct);
        Directory.CreateDirectory(cacheDir);
        await File.WriteAllTextAsync(cache, $"{kernel}\t{choice.Name}\t{choice.Reason}\n", ct);
        return choice;
    }

    private static AcceleratorChoice? ReadCache(string path, string kernel)
    {
        try
        {
            var f = File.ReadAllText(path).TrimEnd('\n').Split('\t');
            return f.Length == 3 && f[0] == kernel && f[1] is "kvm" or "tcg" ? new AcceleratorChoice(f[1] == "kvm", f[2] + " (cached for this kernel)") : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>mov al, 0x21; out 0xf4, al; cli; hlt; jmp $-1 — then the boot signature.</summary>
    internal static byte[] BootSector()
    {
        var sector = new byte[512];
        byte[] code = [0xB0, 0x21, 0xE6, 0xF4, 0xFA, 0xF4, 0xEB, 0xFD];
        code.CopyTo(sector, 0);
        sector[510] = 0x55;
        sector[511] = 0xAA;
        return sector;
    }

    private static async Task<AcceleratorChoice> ProbeAsync(string qemu, string dir, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        var image = Path.Combine(dir, "accelerator-probe.img");
        await File.WriteAllBytesAsync(image, BootSector(), ct);
        try
        {
            var r = await HostCommand.RunUncheckedAsync(qemu,
                // -cpu host as the domain's host-passthrough: a PVM-nested host runs real-mode code under KVM but
                // aborts setting the host CPU's MSRs ("failed to set MSR 0x10a"), as every real guest does there.
                ["-accel", "kvm", "-cpu", "host", "-machine", "pc", "-nodefaults", "-display", "none", "-no-reboot", "-m", "16", "-nic", "none",
                 "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-drive", $"file={image},format=raw,if=ide"],
                HostCommandOptions.Default with { Timeout = ProbeTimeout }, ct);
            return r.ExitCode == ProbeExit
                ? new AcceleratorChoice(true, "KVM booted a probe guest")
                : new AcceleratorChoice(false, $"KVM failed a probe guest: {FirstLine(r.Stderr)}");
        }
        catch (TimeoutException)
        {
            return new AcceleratorChoice(false, string.Create(CultureInfo.InvariantCulture,
                $"a probe guest under KVM did not boot within {ProbeTimeout.TotalSeconds:0} s"));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new AcceleratorChoice(false, $"cannot run {qemu}: {e.Message}");
        }
        finally
        {
            File.Delete(image);
        }
    }

    private static string FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(l => !l.Contains("warning", StringComparison.Ordinal))
        ?? $"exit status without reaching the probe's end";
}
