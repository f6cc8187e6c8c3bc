using System.Collections.Concurrent;
using System.Diagnostics;

namespace Hyperlxd.Core.Processes;

/// <summary>
/// Starts helper programs (cp, tar, unsquashfs, mount…) that must not outlive the daemon: a daemon
/// killed mid-copy would otherwise leave a <c>cp</c> writing into a volume that the next daemon is
/// deleting (its delete fails, or the copy recreates files after it). Each runs under
/// <c>setpriv --pdeathsig=SIGKILL</c>. The kernel ties the parent-death signal to the thread that
/// forked, and .NET forks on the calling thread, so every start happens on one long-lived thread:
/// a retiring thread-pool thread must not kill a running helper.
/// </summary>
public static class ChildProcesses
{
    private static readonly BlockingCollection<(ProcessStartInfo Psi, TaskCompletionSource<Process> Result)> Queue = new();

    static ChildProcesses()
    {
        new Thread(() =>
        {
            foreach (var (psi, result) in Queue.GetConsumingEnumerable())
            {
                try
                {
                    result.SetResult(Process.Start(psi) ?? throw new InvalidOperationException($"Failed to start {psi.FileName}"));
                }
                catch (Exception e)
                {
                    result.SetException(e);
                }
            }
        })
        { IsBackground = true, Name = "hyperlxd-helpers" }.Start();
    }

    /// <summary>Starts <paramref name="psi"/> (program and ArgumentList) so that it is killed when the daemon dies.</summary>
    public static Process Start(ProcessStartInfo psi)
    {
        var args = new List<string> { "--pdeathsig=SIGKILL", "--", psi.FileName };
        args.AddRange(psi.ArgumentList);
        psi.FileName = "setpriv";
        psi.ArgumentList.Clear();
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        return Spawn(psi);
    }

    /// <summary>
    /// Starts <paramref name="psi"/> as it is, from the long-lived thread: for a caller that sets its
    /// own parent-death signal (the embedded PostgreSQL is stopped with SIGINT).
    /// </summary>
    public static Process Spawn(ProcessStartInfo psi)
    {
        var tcs = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Queue.Add((psi, tcs));
        return tcs.Task.GetAwaiter().GetResult();
    }
}
