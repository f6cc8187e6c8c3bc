using Hyperlxd.Cli.Commands;

namespace Hyperlxd.Cli;

/// <summary>
/// Entry point and argument dispatch. Exit codes: 0 success, 1 error (printed as "Error: ..."),
/// 2 usage error (the problem plus the usage of the closest command).
/// </summary>
public static class Program
{
    public static readonly IReadOnlyList<Command> Commands =
    [
        .. InfoCommands.All,
        .. RemoteCommands.All,
        .. ProfileCommands.All,
        .. OperationCommands.All,
        .. ImageCommands.All,
        .. StorageCommands.All,
        .. InstanceCommands.All,
    ];

    public static async Task<int> Main(string[] args) => await RunAsync(args, CliContext.FromConsole());

    public static async Task<int> RunAsync(IReadOnlyList<string> args, CliContext ctx)
    {
        Command? command = null;
        try
        {
            var parsed = ArgParser.Parse(args);
            if (parsed.Has("version"))
            {
                ctx.Out.WriteLine("0.1.0");
                return 0;
            }

            if (parsed.Positionals.Count == 0 && !parsed.Has("help"))
                throw new UsageException("Missing command");
            if (parsed.Positionals.Count == 0 || parsed.Positionals[0] == "help")
            {
                ctx.Out.Write(Help(parsed.Positionals.Skip(1).FirstOrDefault()));
                return 0;
            }

            var consumed = Resolve(parsed.Positionals, out command);
            if (parsed.Has("help"))
            {
                ctx.Out.WriteLine(command.Usage);
                ctx.Out.WriteLine();
                ctx.Out.WriteLine(command.Summary);
                return 0;
            }

            var unknown = parsed.Flags.Keys.FirstOrDefault(f => !command.Flags.Contains(f));
            if (unknown is not null)
                throw new UsageException($"Unknown flag \"--{unknown}\" for \"hlx {command.Path}\"");

            var rest = parsed.Positionals.Skip(consumed).ToList();
            if (rest.Count < command.MinArgs)
                throw new UsageException($"Missing argument{(command.MinArgs - rest.Count > 1 ? "s" : "")} for \"hlx {command.Path}\"");
            if (rest.Count > command.MaxArgs)
                throw new UsageException($"Too many arguments for \"hlx {command.Path}\": unexpected \"{rest[command.MaxArgs]}\"");

            return await command.Run(new CommandCall(ctx, rest, parsed, command));
        }
        catch (UsageException e)
        {
            ctx.Err.WriteLine($"Error: {e.Message}");
            ctx.Err.WriteLine();
            ctx.Err.Write(e.Usage ?? (command is not null ? command.Usage + "\n" : Help(null)));
            return 2;
        }
        catch (CliException e)
        {
            ctx.Err.WriteLine($"Error: {e.Message}");
            return 1;
        }
    }

    /// <summary>Finds the longest command path matching the leading positionals; returns how many it used.</summary>
    private static int Resolve(List<string> positionals, out Command command)
    {
        var group = positionals[0];
        var inGroup = Commands.Where(c => c.Path == group || c.Path.StartsWith(group + " ", StringComparison.Ordinal)).ToList();
        if (inGroup.Count == 0)
            throw new UsageException($"Unknown command \"{group}\"");

        // A top-level verb such as "info" takes the rest as its arguments.
        var single = inGroup.FirstOrDefault(c => c.Path == group);
        if (single is not null)
        {
            command = single;
            return 1;
        }

        var groupUsage = Help(group);
        for (var depth = Math.Min(positionals.Count, 3); depth >= 2; depth--)
        {
            var prefix = string.Join(' ', positionals.Take(depth - 1));
            var verb = positionals[depth - 1];
            var match = inGroup.FirstOrDefault(c =>
                c.Path.StartsWith(prefix + " ", StringComparison.Ordinal)
                && c.Path.Count(ch => ch == ' ') == depth - 1
                && c.Names.Contains(verb));
            if (match is not null)
            {
                command = match;
                return depth;
            }
        }

        if (positionals.Count < 2)
            throw new UsageException($"Missing subcommand for \"hlx {group}\"", groupUsage);
        throw new UsageException($"Unknown command \"hlx {group} {positionals[1]}\"", groupUsage);
    }

    public static string Help(string? group)
    {
        var list = Commands.Where(c => group is null || c.Path == group || c.Path.StartsWith(group + " ", StringComparison.Ordinal)).ToList();
        if (list.Count == 0)
            list = Commands.ToList();
        var width = list.Max(c => c.Path.Length + 1 + c.ArgsUsage.Length);
        var lines = list.Select(c => $"  hlx {(c.Path + " " + c.ArgsUsage).PadRight(width)}  {c.Summary}");
        return "Usage: hlx COMMAND [ARGS] [--format table|json|yaml]\n\nCommands:\n" + string.Join('\n', lines) + "\n";
    }
}
