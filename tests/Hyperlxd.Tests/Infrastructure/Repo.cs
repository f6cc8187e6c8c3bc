namespace Hyperlxd.Tests.Infrastructure;

public static class Repo
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Hyperlxd.sln")))
            {
                return dir;
            }
        }
        throw new InvalidOperationException("Hyperlxd.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The published daemon (<c>dotnet cake --target=Build</c> puts it there), or HYPERLXD_BIN.</summary>
    public static string DaemonBinary
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("HYPERLXD_BIN") is { Length: > 0 } bin ? bin : Path.Combine(Root, "artifacts", "bin", "hyperlxd");
            return File.Exists(path) ? path : throw new InvalidOperationException($"{path} not found: run `dotnet cake --target=Build` first");
        }
    }

    /// <summary>A fresh directory the database user can traverse (the daemon needs o+x on the path).</summary>
    public static string TempDir(string prefix)
    {
        var dir = Directory.CreateTempSubdirectory(prefix).FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_001_001);
        return dir;
    }

    public static int FreeTcpPort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}
