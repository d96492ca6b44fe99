// A line-driven JDBC client for the tests: the password manager reaches its database through JDBC,
// so pairgate is driven here by a real JDBC driver (MariaDB Connector/J, Debian's libmariadb-java).
// Run in Java's single-file source mode:
//   java -cp /usr/share/java/mariadb-java-client.jar test/jdbc/JdbcShell.java
// One command per line on stdin, one answer line on stdout:
//   connect URL<TAB>USER<TAB>PASSWORD   -> ok <server version>
//   query SQL                           -> rows [["a","b"],...]   (every value as getString, null as null)
//   update SQL                          -> count N
//   prepared SQL<TAB>P1<TAB>P2...       -> rows ... | count N      (parameters bound with setString)
//   batch SQL1<TAB>SQL2...              -> counts [n,...]
//   autocommit true|false, commit, rollback, close  -> ok
//   tables                              -> tables ["t1",...]       (DatabaseMetaData.getTables)
// A failure answers: error <vendor code> <SQLSTATE> <message on one line>.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class JdbcShell {
  private static String quote(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      if (ch == '"' || ch == '\\') b.append('\\').append(ch);
      else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
      else b.append(ch);
    }
    return b.append('"').toString();
  }

  private static String rows(ResultSet rs) throws SQLException {
    int n = rs.getMetaData().getColumnCount();
    StringBuilder b = new StringBuilder("[");
    boolean first = true;
    while (rs.next()) {
      if (!first) b.append(',');
      first = false;
      b.append('[');
      for (int i = 1; i <= n; i++) {
        if (i > 1) b.append(',');
        b.append(quote(rs.getString(i)));
      }
      b.append(']');
    }
    return b.append(']').toString();
  }

  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintStream out = new PrintStream(System.out, true, "UTF-8");
    Connection c = null;
    out.println("ready");
    String line;
    while ((line = in.readLine()) != null) {
      int sp = line.indexOf(' ');
      String cmd = sp < 0 ? line : line.substring(0, sp);
      String arg = sp < 0 ? "" : line.substring(sp + 1);
      try {
        switch (cmd) {
          case "connect": {
            String[] p = arg.split("\t", -1);
            c = DriverManager.getConnection(p[0], p[1], p[2]);
            out.println("ok " + c.getMetaData().getDatabaseProductVersion());
            break;
          }
          case "query":
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(arg)) {
              out.println("rows " + rows(rs));
            }
            break;
          case "update":
            try (Statement s = c.createStatement()) {
              out.println("count " + s.executeUpdate(arg));
            }
            break;
          case "prepared": {
            String[] p = arg.split("\t", -1);
            try (PreparedStatement ps = c.prepareStatement(p[0])) {
              for (int i = 1; i < p.length; i++) ps.setString(i, p[i]);
              if (ps.execute()) {
                try (ResultSet rs = ps.getResultSet()) {
                  out.println("rows " + rows(rs));
                }
              } else out.println("count " + ps.getUpdateCount());
            }
            break;
          }
          case "batch":
            try (Statement s = c.createStatement()) {
              for (String sql : arg.split("\t")) s.addBatch(sql);
              int[] counts = s.executeBatch();
              StringBuilder b = new StringBuilder("[");
              for (int i = 0; i < counts.length; i++) b.append(i > 0 ? "," : "").append(counts[i]);
              out.println("counts " + b.append(']'));
            }
            break;
          case "autocommit":
            c.setAutoCommit(Boolean.parseBoolean(arg));
            out.println("ok");
            break;
          case "commit":
            c.commit();
            out.println("ok");
            break;
          case "rollback":
            c.rollback();
            out.println("ok");
            break;
          case "tables": {
            DatabaseMetaData md = c.getMetaData();
            StringBuilder b = new StringBuilder("[");
            try (ResultSet rs = md.getTables(c.getCatalog(), null, "%", new String[] {"TABLE"})) {
              boolean first = true;
              while (rs.next()) {
                b.append(first ? "" : ",").append(quote(rs.getString("TABLE_NAME")));
                first = false;
              }
            }
            out.println("tables " + b.append(']'));
            break;
          }
          case "close":
            c.close();
            out.println("ok");
            break;
          default:
            out.println("error 0 HY000 unknown shell command " + cmd);
        }
      } catch (SQLException e) {
        String msg = String.valueOf(e.getMessage()).replace('\n', ' ').replace('\r', ' ');
        out.println("error " + e.getErrorCode() + " " + e.getSQLState() + " " + msg);
      }
    }
  }
}
