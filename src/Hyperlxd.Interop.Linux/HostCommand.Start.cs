using System.Collections.Concurrent;
using System.Diagnostics;

namespace Hyperlxd.Interop.Linux;

/// <summary>Which of a child's stdio streams are pipes to the daemon (the others are inherited).</summary>
[Flags]
public enum Redirect
{
    None = 0,
    Stdin = 1,
    Stdout = 2,
    Stderr = 4,
    All = Stdin | Stdout | Stderr,
}

public static partial class HostCommand
{
    private static readonly BlockingCollection<(ProcessStartInfo Psi, TaskCompletionSource<Process> Result)> Queue = new();
    private static readonly Lazy<Thread> Spawner = new(() =>
    {
        var thread = new Thread(() =>
        {
            foreach (var (psi, result) in Queue.GetConsumingEnumerable())
            {
                try
                {
                    result.SetResult(StartHere(psi));
                }
                catch (Exception e)
                {
                    result.SetException(e);
                }
            }
        })
        { IsBackground = true, Name = "hyperlxd-helpers" };
        thread.Start();
        return thread;
    });

    /// <summary>
    /// Starts a long-lived child (a decompressor, the database server, a prepared exec helper) and hands
    /// it to the caller, who owns it (<see cref="DisposeWithPipes"/>). With a parent-death signal or a
    /// user (<see cref="HostCommandOptions"/>) it runs under <c>setpriv</c> and is forked on the one
    /// long-lived spawner thread: the kernel ties the parent-death signal to the thread that forked, and
    /// .NET forks on the calling thread, so a retiring thread-pool thread must not kill a running child.
    /// Without either it starts right here, on the calling thread (the exec hot path: no thread hop).
    /// </summary>
    public static Process Start(string program, IEnumerable<string> args, HostCommandOptions? options = null, Redirect redirect = Redirect.None) =>
        StartAsync(program, args, options ?? HostCommandOptions.Default, redirect).GetAwaiter().GetResult();

    private static Task<Process> StartAsync(string program, IEnumerable<string> args, HostCommandOptions options, Redirect redirect)
    {
        var psi = StartInfo(program, args, options, redirect);
        if (!options.NeedsWrapper)
        {
            return Task.FromResult(StartHere(psi));
        }
        var tcs = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = Spawner.Value;
        Queue.Add((psi, tcs));
        return tcs.Task;
    }

    private static Process StartHere(ProcessStartInfo psi) =>
        Process.Start(psi) ?? throw new InvalidOperationException($"Failed starting {psi.FileName}");

    /// <summary><paramref name="program"/> and its arguments, behind <c>setpriv</c> when the options need it.</summary>
    private static ProcessStartInfo StartInfo(string program, IEnumerable<string> args, HostCommandOptions options, Redirect redirect)
    {
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = (redirect & Redirect.Stdin) != 0,
            RedirectStandardOutput = (redirect & Redirect.Stdout) != 0,
            RedirectStandardError = (redirect & Redirect.Stderr) != 0,
        };
        if (options.WorkingDirectory is { } cwd)
        {
            psi.WorkingDirectory = cwd;
        }
        if (options.NeedsWrapper)
        {
            psi.FileName = "setpriv";
            if (options.User is var (uid, gid))
            {
                psi.ArgumentList.Add(FormattableString.Invariant($"--reuid={uid}"));
                psi.ArgumentList.Add(FormattableString.Invariant($"--regid={gid}"));
                psi.ArgumentList.Add("--clear-groups");
            }
            if (options.ParentDeathSignal is { } sig)
            {
                psi.ArgumentList.Add("--pdeathsig=" + sig);
            }
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(program);
        }
        else
        {
            psi.FileName = program;
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var (key, value) in options.Environment ?? EmptyEnvironment)
        {
            if (value is null)
            {
                psi.Environment.Remove(key);
            }
            else
            {
                psi.Environment[key] = value;
            }
        }
        return psi;
    }

    private static readonly Dictionary<string, string?> EmptyEnvironment = [];
}
