using System.Diagnostics;

namespace Hyperlxd.Interop.Linux;

/// <summary>
/// <see cref="Process.Dispose()"/> leaves a redirected stream open once it has been accessed (read or
/// written through <c>StandardOutput</c> and friends): its pipe then stays open until a garbage
/// collection finalizes the handle. A daemon that starts helpers per request must close them itself.
/// </summary>
public static partial class HostCommand
{
    /// <summary>A scope that ends with <see cref="DisposeWithPipes"/>: <c>using var _ = p.OwnPipes();</c></summary>
    public static PipeOwner OwnPipes(this Process process) => new(process);

    public readonly struct PipeOwner(Process process) : IDisposable
    {
        public void Dispose() => process.DisposeWithPipes();
    }

    /// <summary>Closes the process's redirected pipes (without flushing: nothing is buffered in them here), then disposes it.</summary>
    public static void DisposeWithPipes(this Process process)
    {
        ProcessStartInfo? psi = null;
        try
        {
            psi = process.StartInfo;
        }
        catch (InvalidOperationException)
        {
            // not started by us: no pipes of ours
        }
        if (psi is not null)
        {
            Close(psi.RedirectStandardInput, () => process.StandardInput.BaseStream);
            Close(psi.RedirectStandardOutput, () => process.StandardOutput.BaseStream);
            Close(psi.RedirectStandardError, () => process.StandardError.BaseStream);
        }
        process.Dispose();

        static void Close(bool redirected, Func<Stream> stream)
        {
            if (!redirected)
            {
                return;
            }
            try
            {
                stream().Dispose();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
            {
            }
        }
    }
}
