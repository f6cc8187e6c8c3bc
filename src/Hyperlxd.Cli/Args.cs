namespace Hyperlxd.Cli;

/// <summary>
/// Result of splitting a command line into positionals and <c>--flags</c>. Hand-written rather than
/// System.CommandLine: hlx has a dozen verbs and a handful of flags, and lxc-style parsing
/// (<c>--flag value</c>, <c>--flag=value</c>, <c>--</c> ends flags) fits in a page.
/// </summary>
public sealed class ParsedArgs
{
    public List<string> Positionals { get; } = new();
    public Dictionary<string, string> Flags { get; } = new(StringComparer.Ordinal);

    public bool Has(string flag) => Flags.ContainsKey(flag);

    public string? Get(string flag) => Flags.TryGetValue(flag, out var v) ? v : null;

    /// <summary>Every value of a repeatable flag in command-line order (<c>-p a -p b</c>).</summary>
    public Dictionary<string, List<string>> Repeated { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<string> GetAll(string flag) => Repeated.TryGetValue(flag, out var v) ? v : [];
}

public static class ArgParser
{
    /// <summary>Flags that take a value; every other known flag is a boolean switch.</summary>
    public static readonly IReadOnlySet<string> ValueFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "format", "description", "password", "profile", "config", "uid", "gid", "mode",
        "alias",
    };

    public static readonly IReadOnlySet<string> BoolFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "accept-certificate", "help", "version", "force", "show-log",
        "public",
    };

    /// <summary>lxc's one-letter spellings.</summary>
    public static readonly IReadOnlyDictionary<string, string> ShortFlags = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["-h"] = "help", ["-p"] = "profile", ["-c"] = "config", ["-f"] = "force",
    };

    public static ParsedArgs Parse(IReadOnlyList<string> args)
    {
        var result = new ParsedArgs();
        var onlyPositionals = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (onlyPositionals || arg == "-" || !arg.StartsWith('-'))
            {
                result.Positionals.Add(arg);
                continue;
            }

            if (arg == "--")
            {
                onlyPositionals = true;
                continue;
            }

            string name;
            if (ShortFlags.TryGetValue(arg, out var longName))
                name = longName;
            else if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"Unknown flag \"{arg}\"");
            else
                name = arg[2..];

            string? inline = null;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }

            if (ValueFlags.Contains(name))
            {
                if (inline is null)
                {
                    if (i + 1 >= args.Count)
                        throw new UsageException($"Flag --{name} needs an argument");
                    inline = args[++i];
                }

                result.Flags[name] = inline;
                if (!result.Repeated.TryGetValue(name, out var all))
                    result.Repeated[name] = all = new();
                all.Add(inline);
            }
            else if (BoolFlags.Contains(name))
            {
                if (inline is not null && inline != "true" && inline != "false")
                    throw new UsageException($"Flag --{name} takes no value (got \"{inline}\")");
                if (inline != "false")
                    result.Flags[name] = "true";
            }
            else
            {
                throw new UsageException($"Unknown flag \"--{name}\"");
            }
        }

        return result;
    }
}
