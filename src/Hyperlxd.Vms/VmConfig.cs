using System.Globalization;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Vms;

/// <summary>
/// What a VM's config asks of the hypervisor: vCPUs (<c>limits.cpu</c>: a count, or a set of host CPUs
/// the vCPUs are pinned to), memory (<c>limits.memory</c>: LXD sizes or a percentage of host memory) and
/// firmware (<c>security.secureboot</c>). Defaults are LXD's: 1 vCPU, 1 GiB, secure boot on.
/// </summary>
internal sealed record VmResources(int Vcpus, string? CpuSet, long MemoryBytes, bool SecureBoot)
{
    public const int DefaultVcpus = 1;
    public const long DefaultMemoryBytes = 1L << 30;

    /// <summary>QEMU's <c>pc</c> machine takes at most 255 vCPUs.</summary>
    public const int MaxVcpus = 255;

    public long MemoryKiB => (MemoryBytes + (1 << 20) - 1) / (1 << 20) * 1024; // whole MiB, as QEMU sizes RAM

    /// <summary>Throws <see cref="BadRequestException"/> naming the key whose value makes no VM.</summary>
    public static VmResources From(IReadOnlyDictionary<string, string> config) =>
        From(config, Validators.HostMemoryBytes, Validators.OnlineCpus);

    public static VmResources From(IReadOnlyDictionary<string, string> config, Func<long> hostMemory, Func<IReadOnlySet<int>> onlineCpus)
    {
        var (vcpus, cpuset) = Cpus(config.GetValueOrDefault("limits.cpu", ""), onlineCpus);
        var memory = Memory(config.GetValueOrDefault("limits.memory", ""), hostMemory);
        var secureboot = config.GetValueOrDefault("security.secureboot", "");
        if (secureboot.Length > 0 && !LxdBool.IsValid(secureboot))
        {
            throw Bad("security.secureboot", secureboot, "must be a boolean (true or false)");
        }
        return new VmResources(vcpus, cpuset, memory, !LxdBool.IsFalse(secureboot));
    }

    private static (int Vcpus, string? CpuSet) Cpus(string value, Func<IReadOnlySet<int>> onlineCpus)
    {
        if (value.Length == 0)
        {
            return (DefaultVcpus, null);
        }
        if (Validators.CpuLimitOn(onlineCpus)(value) is { } problem)
        {
            throw Bad("limits.cpu", value, problem);
        }
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return count > MaxVcpus ? throw Bad("limits.cpu", value, $"is more vCPUs than a VM can have ({MaxVcpus})") : (count, null);
        }
        // A set: one vCPU per named host CPU, pinned to the set (LXD pins each vCPU to one of them).
        var n = value.Split(',').Sum(part =>
        {
            var ends = part.Split('-');
            return int.Parse(ends[^1], CultureInfo.InvariantCulture) - int.Parse(ends[0], CultureInfo.InvariantCulture) + 1;
        });
        return (Math.Min(n, MaxVcpus), value);
    }

    private static long Memory(string value, Func<long> hostMemory)
    {
        if (value.Length == 0)
        {
            return DefaultMemoryBytes;
        }
        if (Validators.MemoryLimitOn(hostMemory)(value) is { } problem)
        {
            throw Bad("limits.memory", value, problem);
        }
        var bytes = value.EndsWith('%')
            ? hostMemory() / 100 * int.Parse(value[..^1], CultureInfo.InvariantCulture)
            : Validators.ParseSize(value)!.Value;
        return bytes > hostMemory() && hostMemory() > 0
            ? throw Bad("limits.memory", value, $"is more than the host's memory ({hostMemory() >> 20}MiB)")
            : bytes;
    }

    private static BadRequestException Bad(string key, string value, string problem) =>
        new($"Invalid value for config key \"{key}\": \"{value}\" {problem}");
}
