namespace Hyperlxd.Daemon.Commands;

/// <summary><c>hyperlxd waitready [--timeout N]</c>: polls the daemon's readiness over the unix socket.</summary>
public static class WaitReadyCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var timeout = Timeout.InfiniteTimeSpan;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "--timeout" or "-t" && i + 1 < args.Length && int.TryParse(args[i + 1], out var s) && s >= 0)
            {
                timeout = TimeSpan.FromSeconds(s);
                i++;
            }
            else
            {
                throw new UsageException($"invalid argument \"{args[i]}\" (expected --timeout SECONDS)");
            }
        }
        var socket = Path.Combine(DaemonOptions.DefaultStateDir, "unix.socket");
        using var client = new LocalClient(socket);
        using var cts = timeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(timeout);
        while (true)
        {
            try
            {
                await client.SendAsync(HttpMethod.Get, "/internal/ready", ct: cts.Token);
                return 0;
            }
            catch (Exception e) when (e is HttpRequestException or CommandException && !cts.IsCancellationRequested)
            {
                await Task.Delay(100, CancellationToken.None);
            }
            catch (OperationCanceledException)
            {
                throw new CommandException($"daemon still not running after {timeout.TotalSeconds:0}s timeout ({socket})");
            }
            catch (Exception e) when (e is HttpRequestException or CommandException)
            {
                throw new CommandException($"daemon still not running after {timeout.TotalSeconds:0}s timeout ({socket}): {e.Message}");
            }
        }
    }
}
