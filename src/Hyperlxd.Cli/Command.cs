namespace Hyperlxd.Cli;

/// <summary>What a handler gets: the context, its own positional arguments and the flags.</summary>
public sealed record CommandCall(CliContext Ctx, IReadOnlyList<string> Args, ParsedArgs Parsed, Command Command)
{
    public TextWriter Out => Ctx.Out;

    public string? Flag(string name) => Parsed.Get(name);
}

/// <summary>One verb: its path ("profile list"), arity, accepted flags and handler.</summary>
public sealed record Command(
    string Path,
    string ArgsUsage,
    string Summary,
    int MinArgs,
    int MaxArgs,
    string[] Flags,
    Func<CommandCall, Task<int>> Run,
    string[]? Aliases = null)
{
    public const int Unlimited = int.MaxValue;

    public string Usage => $"Usage: hlx {Path}{(ArgsUsage.Length > 0 ? " " + ArgsUsage : "")}"
        + string.Concat(Flags.Select(f => $" [--{f}{(ArgParser.ValueFlags.Contains(f) ? " VALUE" : "")}]"));

    public IEnumerable<string> Names => new[] { Path.Split(' ')[^1] }.Concat(Aliases ?? []);
}
