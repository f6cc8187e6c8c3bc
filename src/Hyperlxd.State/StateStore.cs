using Hyperlxd.State.Embedded;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.State;

/// <summary>
/// Opens the daemon's state: the embedded server (unless an external URL is given), the schema,
/// and one repository per entity.
/// </summary>
public sealed class StateStore : IAsyncDisposable
{
    private StateStore(Database db, EmbeddedPostgres? embedded)
    {
        Database = db;
        Embedded = embedded;
        Config = new ConfigRepository(db);
        Profiles = new ProfileRepository(db);
        Certificates = new CertificateRepository(db);
        Instances = new InstanceRepository(db);
        Storage = new StorageRepository(db);
        Images = new ImageRepository(db);
        Networks = new NetworkRepository(db);
        Backups = new BackupRepository(db, BackupTable.Instances);
        VolumeBackups = new BackupRepository(db, BackupTable.Volumes);
        Warnings = new WarningRepository(db);
        Projects = new ProjectRepository(db);
    }

    public Database Database { get; }
    public EmbeddedPostgres? Embedded { get; }
    public ConfigRepository Config { get; }
    public ProfileRepository Profiles { get; }
    public CertificateRepository Certificates { get; }
    public InstanceRepository Instances { get; }
    public StorageRepository Storage { get; }
    public ImageRepository Images { get; }
    public NetworkRepository Networks { get; }
    public BackupRepository Backups { get; }
    public BackupRepository VolumeBackups { get; }
    public WarningRepository Warnings { get; }
    public ProjectRepository Projects { get; }

    /// <param name="databaseUrl">An external server's connection string or postgres:// URL; null for the embedded one.</param>
    /// <param name="timeout">The budget of one unit of work (null: <see cref="Database.DefaultTimeout"/>).</param>
    public static async Task<StateStore> OpenAsync(string stateDir, string? databaseUrl, string embeddedUser, ILoggerFactory loggers, CancellationToken ct, TimeSpan? timeout = null)
    {
        EmbeddedPostgres? embedded = null;
        string connectionString;
        if (string.IsNullOrEmpty(databaseUrl))
        {
            embedded = new EmbeddedPostgres(Path.Combine(stateDir, "database"), embeddedUser, loggers.CreateLogger<EmbeddedPostgres>());
            await embedded.StartAsync(ct);
            connectionString = embedded.ConnectionString;
        }
        else
        {
            connectionString = ConnectionStrings.FromUrl(databaseUrl);
        }
        var db = new Database(connectionString, loggers.CreateLogger<Database>(), timeout);
        try
        {
            await Migrations.ApplyAsync(db, loggers.CreateLogger(typeof(Migrations)), ct);
        }
        catch
        {
            await db.DisposeAsync();
            if (embedded is not null)
            {
                await embedded.DisposeAsync();
            }
            throw;
        }
        return new StateStore(db, embedded);
    }

    private int _disposed;

    /// <summary>Idempotent: the daemon closes the store in its shutdown order, and the DI container disposes it again at exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await Database.DisposeAsync();
        if (Embedded is not null)
        {
            await Embedded.DisposeAsync();
        }
    }
}
