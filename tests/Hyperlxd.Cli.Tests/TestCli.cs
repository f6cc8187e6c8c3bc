// The tests drive unix sockets and POSIX shells; they are Linux-only like the daemon.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Hyperlxd.Cli.Tests;

/// <summary>Runs hlx in-process with captured output and a private config dir / daemon dir.</summary>
public sealed class TestCli : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("hlxt").FullName;

    public string ConfDir => Path.Combine(Root, "conf");

    public string DaemonDir => Root;

    public string SocketPath => Path.Combine(Root, "unix.socket");

    public Dictionary<string, string> Env { get; } = new();

    public sealed record Result(int ExitCode, string Out, string Err);

    public async Task<Result> RunAsync(string stdin, bool stdinIsTerminal, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var ctx = new CliContext
        {
            Out = output,
            Err = error,
            In = new StringReader(stdin),
            StdinIsTerminal = stdinIsTerminal,
            Env = name => Env.TryGetValue(name, out var v) ? v
                : name switch { "HLX_CONF" => ConfDir, "HYPERLXD_DIR" => DaemonDir, _ => null },
        };
        var code = await Program.RunAsync(args, ctx);
        return new Result(code, output.ToString(), error.ToString());
    }

    public Task<Result> RunAsync(params string[] args) => RunAsync("", true, args);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a socket still being torn down must not fail the test.
        }
    }
}
