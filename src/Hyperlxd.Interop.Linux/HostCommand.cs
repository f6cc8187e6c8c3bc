using System.Diagnostics;

namespace Hyperlxd.Interop.Linux;

/// <summary>How <see cref="HostCommand"/> runs a program.</summary>
public sealed record HostCommandOptions
{
    /// <summary>Killed with the daemon (SIGKILL), forked on the spawner thread: a copy must not go on writing into a volume the next daemon deletes.</summary>
    public static readonly HostCommandOptions Default = new();

    /// <summary>Started as it is, on the calling thread: for programs that must outlive the daemon or arm their own parent-death signal.</summary>
    public static readonly HostCommandOptions Detached = new() { ParentDeathSignal = null };

    /// <summary>Written to the program's stdin, which is then closed (<see cref="HostCommand.RunAsync"/> only; without it the daemon's stdin is inherited).</summary>
    public string? Stdin { get; init; }

    /// <summary>After this the program is killed and a <see cref="TimeoutException"/> thrown (<see cref="HostCommand.RunAsync"/> only).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Variables set for the program; a null value removes one the daemon has.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    public string? WorkingDirectory { get; init; }

    /// <summary>Run as this uid and gid, without supplementary groups (setpriv).</summary>
    public (uint Uid, uint Gid)? User { get; init; }

    /// <summary>The signal the program gets when the daemon dies (setpriv --pdeathsig); null for none.</summary>
    public string? ParentDeathSignal { get; init; } = "SIGKILL";

    internal bool NeedsWrapper => User is not null || ParentDeathSignal is not null;
}

/// <summary>A finished program: its exit code and what it wrote.</summary>
public sealed record HostCommandResult(int ExitCode, string Stdout, string Stderr);

/// <summary>A program exited non-zero; the message names it, its arguments and its trimmed stderr (or the exit status).</summary>
public sealed class HostCommandFailedException(string program, IEnumerable<string> args, int exitCode, string stderr)
    : Exception($"{program} {string.Join(' ', args)}: {(stderr.Trim().Length > 0 ? stderr.Trim() : "exit status " + exitCode)}")
{
    public string Program { get; } = program;

    public int ExitCode { get; } = exitCode;

    public string Stderr { get; } = stderr.Trim();
}

/// <summary>
/// The one runner of host programs (btrfs-progs, util-linux, coreutils, unsquashfs, decompressors, the
/// native helpers, initdb...). <see cref="RunAsync"/> runs one to completion; <see cref="Start"/> hands
/// over a long-lived one. Timeout and cancellation kill the program and its descendants.
/// </summary>
public static partial class HostCommand
{
    /// <summary>Runs <paramref name="program"/> to completion; its stdout. A non-zero exit throws <see cref="HostCommandFailedException"/>.</summary>
    public static async Task<string> RunAsync(string program, IEnumerable<string> args, HostCommandOptions? options = null, CancellationToken ct = default)
    {
        var argv = args.ToList();
        var r = await RunUncheckedAsync(program, argv, options, ct);
        return r.ExitCode == 0 ? r.Stdout : throw new HostCommandFailedException(program, argv, r.ExitCode, r.Stderr);
    }

    /// <summary>Runs <paramref name="program"/> to completion, whatever its exit code: for callers that read meaning into it.</summary>
    public static async Task<HostCommandResult> RunUncheckedAsync(string program, IEnumerable<string> args, HostCommandOptions? options = null,
        CancellationToken ct = default)
    {
        options ??= HostCommandOptions.Default;
        var argv = args.ToList();
        // stdin is a pipe only when there is input: otherwise the daemon's own is inherited, as it always was
        // (a monitor started here hands it on to what it runs).
        var p = await StartAsync(program, argv, options, options.Stdin is null ? Redirect.Stdout | Redirect.Stderr : Redirect.All);
        try
        {
            using var timeout = options.Timeout is { } t ? new CancellationTokenSource(t) : null;
            using var linked = timeout is null ? null : CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            var token = linked?.Token ?? ct;
            // Output is drained whatever happens, so a program never blocks on a full pipe.
            var stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
            try
            {
                if (options.Stdin is { } input)
                {
                    await p.StandardInput.WriteAsync(input.AsMemory(), token);
                    p.StandardInput.Close();
                }
            }
            catch (IOException)
            {
                // It exited without reading all of its input: its exit code says how that went.
            }
            try
            {
                await p.WaitForExitAsync(token);
            }
            catch (OperationCanceledException)
            {
                Kill(p);
                await p.WaitForExitAsync(CancellationToken.None);
                if (timeout?.IsCancellationRequested == true && !ct.IsCancellationRequested)
                {
                    throw new TimeoutException($"{program} {string.Join(' ', argv)}: killed after {options.Timeout!.Value.TotalSeconds:0.###} s");
                }
                throw new OperationCanceledException($"{program} {string.Join(' ', argv)}: cancelled (killed)", ct);
            }
            return new HostCommandResult(p.ExitCode, await stdout, await stderr);
        }
        finally
        {
            p.DisposeWithPipes();
        }
    }

    /// <summary>Kills a child and whatever it started (a shell's children would otherwise keep its pipes open).</summary>
    public static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // exited meanwhile
        }
    }
}
