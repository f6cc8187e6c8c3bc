using Microsoft.Extensions.Logging;

namespace Hyperlxd.State;

/// <summary>Where the state lives: the state directory (embedded server), or an external server's URL.</summary>
/// <param name="DatabaseUrl">An external server's connection string or postgres:// URL; null for the embedded one.</param>
/// <param name="Timeout">The budget of one unit of work (null: <see cref="Database.DefaultTimeout"/>).</param>
public sealed record StateStoreOptions(string StateDir, string? DatabaseUrl, string DatabaseUser, TimeSpan? Timeout = null);

/// <summary>
/// Opens the <see cref="StateStore"/> at host start. The store needs an async start (the embedded
/// server, migrations), so DI hands out <see cref="StateStore"/> from here, and only once it is open:
/// every service that takes the store is resolved after <see cref="OpenAsync"/>.
/// </summary>
public sealed class StateStoreProvider(StateStoreOptions options, ILoggerFactory loggers)
{
    private StateStore? _store;

    public StateStore Store => _store ?? throw new InvalidOperationException("The state store is not open yet");

    public async Task OpenAsync(CancellationToken ct)
    {
        if (_store is not null)
        {
            throw new InvalidOperationException("The state store is already open");
        }
        _store = await StateStore.OpenAsync(options.StateDir, options.DatabaseUrl, options.DatabaseUser, loggers, ct, options.Timeout);
    }
}
