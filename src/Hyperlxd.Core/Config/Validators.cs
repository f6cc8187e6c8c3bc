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
        v.ToLowerInvariant() is "true" or "false" or "1" or "0" or "yes" or "no" or "on" or "off"
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

    /// <summary><c>limits.memory</c>: a size or a percentage of host memory.</summary>
    public static readonly Check SizeOrPercent = v =>
        PercentRegex().IsMatch(v) ? null : Size(v);

    /// <summary><c>limits.cpu</c>: a CPU count, or a set of CPU ids such as 0-3,6.</summary>
    public static readonly Check CpuLimit = v =>
        long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n < 1 ? "must be at least 1 CPU" : null
            : CpuSetRegex().IsMatch(v) ? null : "must be a CPU count or a CPU set such as 0-3,6";

    /// <summary><c>limits.cpu.allowance</c>: a percentage or a quota such as 25ms/100ms.</summary>
    public static readonly Check CpuAllowance = v =>
        PercentRegex().IsMatch(v) || AllowanceRegex().IsMatch(v) ? null : "must be a percentage (50%) or a time slice (25ms/100ms)";

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
        var bytes = n * mult;
        return mult == 0 || bytes > long.MaxValue ? null : (long)bytes;
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

    [GeneratedRegex(@"^\d+ms/\d+ms$")]
    private static partial Regex AllowanceRegex();
}
