using Npgsql;

namespace Hyperlxd.State.Repositories;

/// <summary>The server config map (<c>GET/PUT/PATCH /1.0</c>).</summary>
public sealed class ConfigRepository(Database db)
{
    public Task<Dictionary<string, string>> GetAsync(CancellationToken ct) =>
        db.RunAsync((conn, token) => ReadAsync(conn, null, token), ct);

    /// <summary>
    /// Replaces the config with what <paramref name="mutate"/> makes of the current one, under a
    /// table lock so that concurrent writers serialise. <paramref name="mutate"/> may throw to abort.
    /// </summary>
    public Task<Dictionary<string, string>> UpdateAsync(Func<Dictionary<string, string>, Dictionary<string, string>> mutate, CancellationToken ct) =>
        db.TransactionAsync(async (conn, tx, token) =>
        {
            await using (var lk = conn.Command("LOCK TABLE config IN EXCLUSIVE MODE", tx))
            {
                await lk.ExecuteNonQueryAsync(token);
            }
            var current = await ReadAsync(conn, tx, token);
            var next = mutate(new Dictionary<string, string>(current));
            await using (var del = conn.Command("DELETE FROM config", tx))
            {
                await del.ExecuteNonQueryAsync(token);
            }
            foreach (var (key, value) in next.Where(kv => kv.Value.Length > 0))
            {
                await using var ins = conn.Command("INSERT INTO config (key, value) VALUES ($1, $2)", tx, key, value);
                await ins.ExecuteNonQueryAsync(token);
            }
            return next;
        }, ct);

    private static async Task<Dictionary<string, string>> ReadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        var result = new Dictionary<string, string>();
        await using var cmd = conn.Command("SELECT key, value FROM config", tx);
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            result[r.GetString(0)] = r.GetString(1);
        }
        return result;
    }
}
