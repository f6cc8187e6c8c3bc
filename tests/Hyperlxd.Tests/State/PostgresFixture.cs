using Hyperlxd.Daemon.Hosting;
using Hyperlxd.State;
using Hyperlxd.State.Embedded;
using Hyperlxd.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hyperlxd.Tests.State;

/// <summary>A real PostgreSQL cluster, initdb'd and supervised by the same code the daemon uses.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public string Dir { get; } = Repo.TempDir("hlx-pg-");
    public EmbeddedPostgres Server { get; private set; } = null!;
    public Database Db { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await HostAccounts.EnsureAsync("hyperlxd", "hyperlxd-db");
        Server = new EmbeddedPostgres(Path.Combine(Dir, "database"), "hyperlxd-db", NullLogger.Instance);
        await Server.StartAsync(CancellationToken.None);
        Db = new Database(Server.ConnectionString, NullLogger.Instance);
        await Migrations.ApplyAsync(Db, NullLogger.Instance, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await Db.DisposeAsync();
        await Server.DisposeAsync();
        Directory.Delete(Dir, true);
    }
}
