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
}

public static class ArgParser
{
    /// <summary>Flags that take a value; every other known flag is a boolean switch.</summary>
    public static readonly IReadOnlySet<string> ValueFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "format", "description", "password",
        "alias",
    };

    public static readonly IReadOnlySet<string> BoolFlags = new HashSet<string>(StringComparer.Ordinal)
    {
        "accept-certificate", "help", "version",
        "public",
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

            if (arg == "-h")
            {
                result.Flags["help"] = "true";
                continue;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"Unknown flag \"{arg}\"");

            var name = arg[2..];
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
