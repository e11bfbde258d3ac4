// The table of a list page (tickets for sale, my tickets, my orders): a heading per
// column, then a last column of row links whose heading is for screen readers only.
// The rows are the children.
export default function ListTable({ testId, columns, hover = false, children }) {
  return (
    <div className="table-responsive">
      <table className={`table${hover ? ' table-hover' : ''} bg-white align-middle`} data-testid={testId}>
        <thead>
          <tr>
            {columns.map((name) => (
              <th key={name} scope="col">
                {name}
              </th>
            ))}
            <th scope="col">
              <span className="visually-hidden">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
