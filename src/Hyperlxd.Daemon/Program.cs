using Hyperlxd.Daemon.Commands;

namespace Hyperlxd.Daemon;

public static class Program
{
    private const string Usage = """
        Usage: hyperlxd <command> [options]

        Commands:
          daemon                       Run the daemon (state in $HYPERLXD_DIR, default /var/lib/hyperlxd)
          waitready [--timeout N]      Wait until the daemon answers (N seconds, default: forever)
          init --auto [--network-address A] [--network-port P] [--trust-password P]
          init --preseed               Apply a YAML preseed read from standard input
          version                      Print the version
        """;

    public static async Task<int> Main(string[] args)
    {
        try
        {
            return args.FirstOrDefault() switch
            {
                "daemon" => await DaemonCommand.RunAsync(args[1..]),
                "waitready" => await WaitReadyCommand.RunAsync(args[1..]),
                "init" => await InitCommand.RunAsync(args[1..]),
                "version" or "--version" => Print(Endpoints.ServerEndpoints.Version),
                "help" or "--help" or "-h" => Print(Usage),
                null => Fail(Usage, 2),
                var other => Fail($"Error: unknown command \"{other}\"\n\n{Usage}", 2),
            };
        }
        catch (UsageException e)
        {
            return Fail($"Error: {e.Message}\n\n{Usage}", 2);
        }
        catch (CommandException e)
        {
            return Fail("Error: " + e.Message, 1);
        }
    }

    private static int Print(string text)
    {
        Console.WriteLine(text);
        return 0;
    }

    private static int Fail(string text, int code)
    {
        Console.Error.WriteLine(text);
        return code;
    }
}
