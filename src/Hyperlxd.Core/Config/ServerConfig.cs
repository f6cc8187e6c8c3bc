namespace Hyperlxd.Core.Config;

/// <summary>The server config keys (<c>PUT/PATCH /1.0</c>) and their checks.</summary>
public static class ServerConfig
{
    public const string HttpsAddress = "core.https_address";
    public const string TrustPassword = "core.trust_password";

    /// <summary>Minutes the daemon waits for running operations on shutdown (LXD's key and unit).</summary>
    public const string ShutdownTimeout = "core.shutdown_timeout";

    /// <summary>Hyperlxd extension key: the largest image upload or download accepted, in bytes or a size (413 beyond).</summary>
    public const string ImagesMaxUploadSize = "images.max_upload_size";

    /// <summary>Hyperlxd extension key: the most an image may unpack to (uncompressed tarballs, squashfs contents), 413 beyond.</summary>
    public const string ImagesMaxUnpackedSize = "images.max_unpacked_size";

    /// <summary>Hyperlxd extension key: the libvirt URI of the VM driver (default: its embedded driver in the state directory). Read at daemon start.</summary>
    public const string VmsLibvirtUri = "vms.libvirt.uri";

    /// <summary>Hyperlxd extension key: the VMs' accelerator, <c>auto</c> (probed), <c>kvm</c> or <c>tcg</c>. Read at daemon start.</summary>
    public const string VmsAccelerator = "vms.accelerator";

    /// <summary>Whether <c>/1.0/metrics</c> needs a trusted client or metrics certificate (LXD's default: true).</summary>
    public const string MetricsAuthentication = "core.metrics_authentication";

    private static readonly Dictionary<string, Validators.Check> Keys = new()
    {
        [MetricsAuthentication] = Validators.Bool,
        [VmsLibvirtUri] = v => v.Contains("://", StringComparison.Ordinal) && !Validators.HasControl(v) ? null : "must be a libvirt URI such as qemu:///system",
        [VmsAccelerator] = Validators.OneOf("auto", "kvm", "tcg"),
        [ImagesMaxUploadSize] = Validators.Size,
        [ImagesMaxUnpackedSize] = Validators.Size,
        [HttpsAddress] = Validators.ListenAddress,
        [TrustPassword] = Validators.Any,
        [ShutdownTimeout] = Validators.Int(0, 24 * 60),
    };

    public static void Validate(IReadOnlyDictionary<string, string> config)
    {
        foreach (var (key, value) in config)
        {
            if (Validators.KeyValueProblem(key, value) is { } bad)
            {
                throw new BadRequestException($"Invalid server config key \"{Validators.Printable(key)}\": {bad}");
            }
            if (key.StartsWith("user.", StringComparison.Ordinal) && key.Length > 5)
            {
                continue;
            }
            if (!Keys.TryGetValue(key, out var check))
            {
                throw new BadRequestException($"Unknown server config key \"{key}\"");
            }
            if (value.Length > 0 && check(value) is { } problem)
            {
                throw new BadRequestException($"Invalid value for server config key \"{key}\": \"{value}\" {problem}");
            }
        }
    }
}
