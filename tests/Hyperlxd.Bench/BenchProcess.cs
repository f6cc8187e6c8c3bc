using System.Diagnostics;

namespace Hyperlxd.Bench;

/// <summary>Runs a program to its end for the bench: exit code and both outputs (read together, so neither pipe fills up).</summary>
internal static class BenchProcess
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(
        string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string? stdin = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }
        using var p = Process.Start(psi) ?? throw new BenchException($"cannot start {program}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
        }
        p.StandardInput.Close();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }
}
