using System.Globalization;
using System.Text.RegularExpressions;

namespace Hyperlxd.Core.Config;

/// <summary>
/// Value checks shared by every config schema. Each returns an error text (without the key name)
/// or null when the value is acceptable; an empty value always means "unset" and is accepted.
/// </summary>
public static partial class Validators
{
    public delegate string? Check(string value);

    public static readonly Check Any = _ => null;

    public static readonly Check Bool = v =>
        LxdBool.IsValid(v)
            ? null
            : "must be a boolean (true or false)";

    public static Check Int(long min = long.MinValue, long max = long.MaxValue) => v =>
        long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)
            ? n < min || n > max ? $"must be between {min} and {max}" : null
            : "must be an integer";

    public static Check OneOf(params string[] choices) => v =>
        choices.Contains(v) ? null : $"must be one of: {string.Join(", ", choices)}";

    /// <summary>C0/C1 control characters and DEL: never part of a key, and shown escaped in messages.</summary>
    public static bool HasControl(string s) => s.Any(char.IsControl);

    /// <summary>Text for an error message: control characters as <c>\xHH</c>, so a hostile key cannot forge lines.</summary>
    public static string Printable(string s) =>
        HasControl(s) ? string.Concat(s.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString())) : s;

    /// <summary>
    /// Problems shared by every config map: a key with control characters, a value with NUL (which
    /// PostgreSQL cannot store and no C string can carry). Null values are "" (Go reads JSON null so).
    /// </summary>
    public static string? KeyValueProblem(string key, string? value) =>
        HasControl(key) ? "control characters are not allowed in keys"
        : value is not null && value.Contains('\0') ? "NUL characters are not allowed in values"
        : null;

    /// <summary>
    /// The name part of an <c>environment.*</c> key: a variable name execve can carry and a shell can
    /// show (no <c>=</c>, whitespace or control characters; LXD refuses line breaks in the value).
    /// </summary>
    public static string? EnvironmentProblem(string name, string value) =>
        name.Any(c => c == '=' || char.IsWhiteSpace(c) || char.IsControl(c))
            ? "is not a valid environment variable name (no '=', spaces or control characters)"
            : value.Contains('\n') ? "Environment variables cannot contain line breaks"
            : null;

    /// <summary>Byte sizes as LXD parses them: a number with an optional B, kB/KiB, MB/MiB, ... unit.</summary>
    public static readonly Check Size = v => ParseSize(v) is null ? "must be a size such as 512MiB or 2GB" : null;

    /// <summary>
    /// The smallest <c>limits.memory</c> accepted: below this not even a minimal init survives its
    /// first page faults (LXD itself only refuses 0, and such a container then dies at start).
    /// </summary>
    public const long MinMemoryBytes = 8L << 20;

    /// <summary><c>limits.memory</c>: a size or a percentage (1–100) of host memory, at least <see cref="MinMemoryBytes"/>.</summary>
    public static Check MemoryLimitOn(Func<long> hostMemoryBytes) => v =>
    {
        long bytes;
        if (v.EndsWith('%'))
        {
            if (!PercentRegex().IsMatch(v) || int.Parse(v[..^1], CultureInfo.InvariantCulture) is < 1 or > 100)
            {
                return "must be a percentage of host memory between 1% and 100%";
            }
            bytes = hostMemoryBytes() / 100 * int.Parse(v[..^1], CultureInfo.InvariantCulture);
        }
        else if (ParseSize(v) is { } size)
        {
            bytes = size;
        }
        else
        {
            return "must be a size such as 512MiB or 2GB, or a percentage of host memory";
        }
        return bytes < MinMemoryBytes ? $"is {bytes} bytes: the smallest memory limit is {MinMemoryBytes >> 20}MiB" : null;
    };

    public static readonly Check MemoryLimit = MemoryLimitOn(HostMemoryBytes);

    /// <summary>
    /// <c>limits.cpu</c>: a CPU count (more than the host has means all of them, as in LXD), or a set
    /// of CPU ids such as 0-3,6 naming only CPUs that are online, each once, ranges low-high.
    /// </summary>
    public static Check CpuLimitOn(Func<IReadOnlySet<int>> onlineCpus) => v =>
    {
        if (CountRegex().IsMatch(v))
        {
            return !int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? $"is not a CPU count this host can use (at most {int.MaxValue})"
                : n < 1 ? "must be at least 1 CPU"
                : null;
        }
        if (!CpuSetRegex().IsMatch(v))
        {
            return "must be a CPU count or a CPU set such as 0-3,6";
        }
        var online = onlineCpus();
        var seen = new HashSet<int>();
        foreach (var part in v.Split(','))
        {
            var ends = part.Split('-');
            if (!int.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out var lo)
                | !int.TryParse(ends[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var hi))
            {
                return $"names CPU ids beyond any host (\"{part}\")";
            }
            if (hi < lo)
            {
                return $"has a reversed range \"{part}\" (low-high)";
            }
            // Stops at the first CPU that is not online: a huge range costs no more than the host's CPU count.
            for (var cpu = lo; cpu <= hi; cpu++)
            {
                if (!online.Contains(cpu))
                {
                    return $"names CPU {cpu}, which is not online on this host (online: {FormatCpus(online)})";
                }
                if (!seen.Add(cpu))
                {
                    return $"names CPU {cpu} more than once";
                }
            }
        }
        return null;
    };

    public static readonly Check CpuLimit = CpuLimitOn(OnlineCpus);

    /// <summary>Longest CFS period and largest quota the kernel takes (1 s; 2^44-1 µs), in ms.</summary>
    private const long MaxCpuPeriodMs = 1000, MaxCpuQuotaMs = ((1L << 44) - 1) / 1000;

    /// <summary>
    /// <c>limits.cpu.allowance</c>: a percentage (1–100, a soft share) or a quota such as 25ms/100ms,
    /// both at least 1ms and within the kernel's bounds (period at most 1000ms).
    /// </summary>
    public static readonly Check CpuAllowance = v =>
    {
        if (v.EndsWith('%'))
        {
            return PercentRegex().IsMatch(v) && int.Parse(v[..^1], CultureInfo.InvariantCulture) is >= 1 and <= 100
                ? null : "must be a percentage between 1% and 100%, or a time slice (25ms/100ms)";
        }
        var m = AllowanceRegex().Match(v);
        if (!m.Success)
        {
            return "must be a percentage (50%) or a time slice (25ms/100ms)";
        }
        return !long.TryParse(m.Groups[2].Value, CultureInfo.InvariantCulture, out var period) || period is < 1 or > MaxCpuPeriodMs
                ? $"needs a period between 1ms and {MaxCpuPeriodMs}ms"
            : !long.TryParse(m.Groups[1].Value, CultureInfo.InvariantCulture, out var quota) || quota is < 1 or > MaxCpuQuotaMs
                ? $"needs a quota between 1ms and {MaxCpuQuotaMs}ms"
            : null;
    };

    /// <summary>The host's online CPUs (<c>/sys/devices/system/cpu/online</c>, read each time: CPUs can be hot-plugged).</summary>
    public static IReadOnlySet<int> OnlineCpus()
    {
        var ids = new SortedSet<int>();
        foreach (var part in File.ReadAllText("/sys/devices/system/cpu/online").Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var ends = part.Split('-');
            for (var cpu = int.Parse(ends[0], CultureInfo.InvariantCulture); cpu <= int.Parse(ends[^1], CultureInfo.InvariantCulture); cpu++)
            {
                ids.Add(cpu);
            }
        }
        return ids;
    }

    /// <summary>MemTotal of <c>/proc/meminfo</c>, in bytes.</summary>
    public static long HostMemoryBytes()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    private static string FormatCpus(IReadOnlySet<int> cpus) => string.Join(',', cpus.Order());

    /// <summary><c>host:port</c>, <c>[v6]:port</c> or a bare address (port 8443 is then implied).</summary>
    public static readonly Check ListenAddress = v => ParseListenAddress(v, 8443) is null ? "must be an address such as 127.0.0.1:8443 or [::]:8443" : null;

    public static long? ParseSize(string v)
    {
        var m = SizeRegex().Match(v.Trim());
        if (!m.Success || !decimal.TryParse(m.Groups[1].Value, NumberStyles.Number, CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }
        decimal mult = m.Groups[2].Value switch
        {
            "" or "B" => 1,
            "kB" => 1000m, "MB" => 1000m * 1000, "GB" => 1000m * 1000 * 1000,
            "TB" => 1000m * 1000 * 1000 * 1000, "PB" => 1000m * 1000 * 1000 * 1000 * 1000,
            "KiB" => 1024m, "MiB" => 1024m * 1024, "GiB" => 1024m * 1024 * 1024,
            "TiB" => 1024m * 1024 * 1024 * 1024, "PiB" => 1024m * 1024 * 1024 * 1024 * 1024,
            _ => 0,
        };
        // Checked before multiplying: a decimal overflows too (99999999999999999999999GB).
        return mult == 0 || n > long.MaxValue / mult ? null : (long)(n * mult);
    }

    public static System.Net.IPEndPoint? ParseListenAddress(string v, int defaultPort)
    {
        if (System.Net.IPEndPoint.TryParse(v, out var ep))
        {
            if (ep.Port == 0 && !v.EndsWith(":0", StringComparison.Ordinal))
            {
                ep.Port = defaultPort;
            }
            return ep;
        }
        return null;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB|PB|KiB|MiB|GiB|TiB|PiB)?$")]
    private static partial Regex SizeRegex();

    [GeneratedRegex(@"^\d{1,3}%$")]
    private static partial Regex PercentRegex();

    [GeneratedRegex(@"^\d+(-\d+)?(,\d+(-\d+)?)*$")]
    private static partial Regex CpuSetRegex();

    [GeneratedRegex(@"^(\d+)ms/(\d+)ms$")]
    private static partial Regex AllowanceRegex();

    [GeneratedRegex(@"^\d+$")]
    private static partial Regex CountRegex();
}
