namespace Hyperlxd.Vms;

/// <summary>Where the VM driver keeps its state and how it reaches libvirt and QEMU.</summary>
public sealed class VmDriverOptions
{
    /// <summary>The server config key naming the libvirt URI (default: the embedded driver in the state directory). Read at daemon start.</summary>
    public const string UriKey = Core.Config.ServerConfig.VmsLibvirtUri;

    /// <summary>The server config key forcing the accelerator: <c>auto</c> (probe), <c>kvm</c> or <c>tcg</c>. Read at daemon start.</summary>
    public const string AcceleratorKey = Core.Config.ServerConfig.VmsAccelerator;

    /// <summary>The daemon's state directory: the embedded libvirt root is <c>{StateDir}/libvirt</c>, the probe's cache <c>{StateDir}/vms</c>.</summary>
    public required string StateDir { get; init; }

    /// <summary>The libvirt URI; null: <see cref="UriKey"/> from <see cref="ServerConfig"/>, else <c>qemu:///embed?root={StateDir}/libvirt</c>.</summary>
    public string? Uri { get; init; }

    /// <summary>Null: <see cref="AcceleratorKey"/> from <see cref="ServerConfig"/>, else auto.</summary>
    public AcceleratorMode? Accelerator { get; init; }

    /// <summary>The server config as it is when the driver first starts (after the daemon loaded it).</summary>
    public Func<IReadOnlyDictionary<string, string>>? ServerConfig { get; init; }

    public string Qemu { get; init; } = "/usr/bin/qemu-system-x86_64";

    /// <summary>OVMF's images (<c>OVMF_CODE_4M.fd</c>, <c>OVMF_VARS_4M.fd</c> and their secure-boot variants).</summary>
    public string FirmwareDir { get; init; } = "/usr/share/OVMF";

    /// <summary>Domains are named <c>{DomainPrefix}{instance}</c>; reconcile only touches domains with this prefix.</summary>
    public string DomainPrefix { get; init; } = "hlx-";

    /// <summary>How long exec and file access wait for the guest agent to answer before failing (the VM keeps running).</summary>
    public TimeSpan AgentTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A non-interactive exec whose client neither writes to stdin nor closes it within this time runs
    /// without stdin (the guest agent takes stdin whole, before the command starts).
    /// </summary>
    public TimeSpan StdinGrace { get; init; } = TimeSpan.FromMilliseconds(500);
}
